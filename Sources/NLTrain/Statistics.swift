import Foundation

/// Summary statistics of one figure (top-1, a class's accuracy) measured once per seed, and the
/// test that says whether two such figures differ by more than seed-to-seed noise.
///
/// Seeds are few (2–5), so the normal approximation is not used anywhere: intervals and
/// p-values come from Student's t distribution, evaluated through the regularized incomplete
/// beta function rather than a table, so any (also fractional) degrees of freedom work.
public enum Statistics {
    /// The arithmetic mean x̄ = Σ xᵢ / n; NaN for an empty sample.
    public static func mean(_ x: [Double]) -> Double {
        x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count)
    }

    /// The sample standard deviation s = √(Σ (xᵢ − x̄)² / (n − 1)) (Bessel's correction, as
    /// numpy's `std(ddof=1)`); nil for n < 2, where the spread is unknown rather than zero.
    public static func standardDeviation(_ x: [Double]) -> Double? {
        guard x.count >= 2 else { return nil }
        let m = mean(x)
        return (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
    }

    /// The 95% confidence interval of the mean, x̄ ± t₀.₉₇₅,ₙ₋₁ · s / √n; nil for n < 2 (one
    /// seed says nothing about the spread).
    public static func confidenceInterval95(_ x: [Double]) -> ClosedRange<Double>? {
        guard let s = standardDeviation(x) else { return nil }
        let m = mean(x), half = studentTQuantile(0.975, degreesOfFreedom: Double(x.count - 1)) * s / Double(x.count).squareRoot()
        return (m - half)...(m + half)
    }

    /// The cumulative distribution function of Student's t with ν degrees of freedom:
    /// for t > 0, F(t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½), and F(−t) = 1 − F(t).
    public static func studentTCDF(_ t: Double, degreesOfFreedom nu: Double) -> Double {
        let tail = 0.5 * regularizedIncompleteBeta(nu / (nu + t * t), a: nu / 2, b: 0.5)
        return t > 0 ? 1 - tail : tail
    }

    /// The p-quantile of Student's t with ν > 0 degrees of freedom, F⁻¹(p), for 0 < p < 1
    /// (t₀.₉₇₅ for ν = 1, 4, ∞: 12.706, 2.776, 1.960).
    ///
    /// Found by bisection on the upper tail ½ I_{ν/(ν+t²)}(ν/2, ½) = 1 − p, which falls
    /// monotonically in t: robust for tiny ν, where Newton steps from a normal start overshoot.
    public static func studentTQuantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(p > 0 && p < 1 && nu > 0, "studentTQuantile needs 0 < p < 1 and ν > 0")
        if p == 0.5 { return 0 }
        if p < 0.5 { return -studentTQuantile(1 - p, degreesOfFreedom: nu) }
        let target = 1 - p
        func tail(_ t: Double) -> Double { 0.5 * regularizedIncompleteBeta(nu / (nu + t * t), a: nu / 2, b: 0.5) }
        var lo = 0.0, hi = 1.0
        while tail(hi) > target { lo = hi; hi *= 2 }
        // 200 halvings reach the spacing of doubles around the root long before they run out.
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if mid == lo || mid == hi { break }
            if tail(mid) > target { lo = mid } else { hi = mid }
        }
        return 0.5 * (lo + hi)
    }

    /// Welch's two-sample t-test: does the mean of `a` differ from the mean of `b`, without
    /// assuming equal variances (as `scipy.stats.ttest_ind(a, b, equal_var=False)`).
    ///
    /// - t = (x̄_a − x̄_b) / √(s_a²/n_a + s_b²/n_b)
    /// - ν = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1))
    ///   (Welch–Satterthwaite)
    /// - p = 2 (1 − F_ν(|t|)) = I_{ν/(ν+t²)}(ν/2, ½), two-sided.
    ///
    /// Degenerate cases: nil when either sample has fewer than 2 values (its variance is
    /// unknown). When both samples have zero variance the statistic is 0/0 or d/0; this returns
    /// t = 0, p = 1 if the means are equal and t = ±∞, p = 0 otherwise (every seed on one side of
    /// every seed on the other), with ν = NaN (undefined). scipy returns NaN there instead.
    public static func welch(_ a: [Double], _ b: [Double]) -> WelchTest? {
        guard let sa = standardDeviation(a), let sb = standardDeviation(b) else { return nil }
        let ma = mean(a), mb = mean(b)
        let va = sa * sa / Double(a.count), vb = sb * sb / Double(b.count)
        guard va + vb > 0 else {
            return ma == mb ? WelchTest(t: 0, degreesOfFreedom: .nan, p: 1)
                            : WelchTest(t: ma > mb ? .infinity : -.infinity, degreesOfFreedom: .nan, p: 0)
        }
        let t = (ma - mb) / (va + vb).squareRoot()
        let nu = (va + vb) * (va + vb) / (va * va / Double(a.count - 1) + vb * vb / Double(b.count - 1))
        return WelchTest(t: t, degreesOfFreedom: nu, p: regularizedIncompleteBeta(nu / (nu + t * t), a: nu / 2, b: 0.5))
    }

    /// The regularized incomplete beta function
    /// I_x(a, b) = B(x; a, b) / B(a, b) = ∫₀ˣ u^{a−1} (1 − u)^{b−1} du / B(a, b), for 0 ≤ x ≤ 1.
    ///
    /// Evaluated by its continued fraction (modified Lentz, as Numerical Recipes' `betai`),
    /// which converges fast for x < (a + 1)/(a + b + 2); above that, the symmetry
    /// I_x(a, b) = 1 − I_{1−x}(b, a) moves x into that range.
    static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        // x^a (1−x)^b / B(a, b), in logs so large a, b do not overflow.
        let front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x))
        if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(x, a: a, b: b) / a }
        return 1 - front * betaContinuedFraction(1 - x, a: b, b: a) / b
    }

    /// The continued fraction 1/(1+ d₁/(1+ d₂/(1+ …))) of I_x(a, b), with
    /// d₂ₘ₊₁ = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and d₂ₘ = m(b−m)x / ((a+2m−1)(a+2m)).
    private static func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300, eps = 1e-15
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            for coefficient in [m * (b - m) * x / ((a + m2 - 1) * (a + m2)), -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))] {
                d = 1 + coefficient * d
                if abs(d) < tiny { d = tiny }
                c = 1 + coefficient / c
                if abs(c) < tiny { c = tiny }
                d = 1 / d
                h *= d * c
            }
            if abs(d * c - 1) < eps { break }
        }
        return h
    }
}

/// The outcome of ``Statistics/welch(_:_:)``: the statistic, its degrees of freedom and the
/// two-sided p-value (the chance of a |t| at least this large if both means were equal).
public struct WelchTest: Sendable, Equatable {
    /// (x̄_a − x̄_b) / √(s_a²/n_a + s_b²/n_b); ±∞ when both variances are zero and the means differ.
    public var t: Double
    /// The Welch–Satterthwaite ν; NaN when both variances are zero.
    public var degreesOfFreedom: Double
    /// Two-sided p-value in [0, 1].
    public var p: Double
}
