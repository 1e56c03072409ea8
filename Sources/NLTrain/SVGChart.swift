import Foundation

/// Plain SVG pictures (no plotting library): a line chart and a heat map.
public enum SVGChart {
    /// Lines of (x, y) points, each series scaled into one plot area.
    public static func lines(title: String, xLabel: String, series: [(name: String, points: [(Double, Double)])]) -> String {
        let (w, h, pad) = (640.0, 360.0, 48.0)
        let all = series.flatMap(\.points).filter { $0.1.isFinite }
        guard let minX = all.map(\.0).min(), let maxX = all.map(\.0).max(),
              let minY = all.map(\.1).min(), let maxY = all.map(\.1).max() else { return svg(w, h, "<text x='20' y='30'>no data</text>") }
        let sx = { (x: Double) in pad + (x - minX) / max(maxX - minX, 1e-9) * (w - 2 * pad) }
        let sy = { (y: Double) in h - pad - (y - minY) / max(maxY - minY, 1e-9) * (h - 2 * pad) }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
        var body = "<text x='\(w / 2)' y='24' text-anchor='middle' font-size='16'>\(escape(title))</text>"
        body += "<line x1='\(pad)' y1='\(h - pad)' x2='\(w - pad)' y2='\(h - pad)' stroke='black'/>"
            + "<line x1='\(pad)' y1='\(pad)' x2='\(pad)' y2='\(h - pad)' stroke='black'/>"
        body += "<text x='\(w / 2)' y='\(h - 10)' text-anchor='middle' font-size='12'>\(escape(xLabel))</text>"
        body += String(format: "<text x='4' y='%.0f' font-size='11'>%.3g</text><text x='4' y='%.0f' font-size='11'>%.3g</text>", pad, maxY, h - pad, minY)
        for (i, s) in series.enumerated() {
            let pts = s.points.filter { $0.1.isFinite }.map { String(format: "%.1f,%.1f", sx($0.0), sy($0.1)) }.joined(separator: " ")
            body += "<polyline fill='none' stroke='\(colors[i % colors.count])' stroke-width='1.5' points='\(pts)'/>"
            body += "<text x='\(w - pad - 120)' y='\(pad + 16 * Double(i))' fill='\(colors[i % colors.count])' font-size='12'>\(escape(s.name))</text>"
        }
        return svg(w, h, body)
    }

    /// A matrix as shaded cells, rows and columns labelled.
    public static func heatmap(title: String, matrix: [[Int]], labels: [String]) -> String {
        let n = matrix.count, cell = max(4.0, min(28.0, 560.0 / Double(max(n, 1)))), left = 140.0, top = 40.0
        let maxValue = Double(matrix.flatMap { $0 }.max() ?? 1)
        var body = "<text x='\(left)' y='24' font-size='16'>\(escape(title)) (rows: true, columns: predicted)</text>"
        for (r, row) in matrix.enumerated() {
            if n <= 40 { body += "<text x='\(left - 4)' y='\(top + cell * (Double(r) + 0.7))' text-anchor='end' font-size='10'>\(escape(labels[r]))</text>" }
            for (c, v) in row.enumerated() {
                let shade = Int(255 - 255 * Double(v) / max(maxValue, 1))
                body += "<rect x='\(left + cell * Double(c))' y='\(top + cell * Double(r))' width='\(cell)' height='\(cell)' "
                    + "fill='rgb(\(shade),\(shade),255)'/>"
            }
        }
        return svg(left + cell * Double(n) + 20, top + cell * Double(n) + 20, body)
    }

    static func svg(_ w: Double, _ h: Double, _ body: String) -> String {
        "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(w))' height='\(Int(h))' font-family='sans-serif'>"
            + "<rect width='100%' height='100%' fill='white'/>\(body)</svg>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
