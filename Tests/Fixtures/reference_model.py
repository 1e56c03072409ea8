"""A PyTorch reference of NonLocalNet's networks, written from docs/architecture.md and
docs/nonlocal-block.md with SlowFast's parameter names, used only to
make test fixtures. Layout NCTHW as PyTorch convs want; configs are the same dicts the
Swift side reads from YAML.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

STAGES = ["res2", "res3", "res4", "res5"]


def blocks_per_stage(depth):
    return [3, 4, 23, 3] if depth == 101 else [3, 4, 6, 3]




class Bottleneck(nn.Module):
    def __init__(self, cin, inner, cout, spatial, t_a, t_b, eps):
        super().__init__()
        self.branch2 = nn.Module()
        self.branch2.a = nn.Conv3d(cin, inner, (t_a, 1, 1), padding=(t_a // 2, 0, 0), bias=False)
        self.branch2.a_bn = nn.BatchNorm3d(inner, eps=eps)
        self.branch2.b = nn.Conv3d(inner, inner, (t_b, 3, 3), stride=(1, spatial, spatial), padding=(t_b // 2, 1, 1), bias=False)
        self.branch2.b_bn = nn.BatchNorm3d(inner, eps=eps)
        self.branch2.c = nn.Conv3d(inner, cout, 1, bias=False)
        self.branch2.c_bn = nn.BatchNorm3d(cout, eps=eps)
        self.has_shortcut = cin != cout or spatial != 1
        if self.has_shortcut:
            self.branch1 = nn.Conv3d(cin, cout, 1, stride=(1, spatial, spatial), bias=False)
            self.branch1_bn = nn.BatchNorm3d(cout, eps=eps)

    def forward(self, x):
        b = self.branch2
        h = F.relu(b.a_bn(b.a(x)))
        h = F.relu(b.b_bn(b.b(h)))
        h = b.c_bn(b.c(h))
        s = self.branch1_bn(self.branch1(x)) if self.has_shortcut else x
        return F.relu(h + s)


class NonLocal(nn.Module):
    def __init__(self, c, nl, group, eps):
        super().__init__()
        self.nl, self.group, self.inner = nl, group, c // 2
        inner = self.inner
        if nl["instantiation"] != "gaussian":
            self.conv_theta = nn.Conv3d(c, inner, 1)
            self.conv_phi = nn.Conv3d(c, inner, 1)
        self.conv_g = nn.Conv3d(c, inner, 1)
        if nl["instantiation"] == "concatenation":
            self.concat_project = nn.Conv3d(2 * inner, 1, 1, bias=False)
        self.conv_out = nn.Conv3d(inner, c, 1, bias=nl["out_bias"])
        if nl["norm"] == "bn":
            self.bn = nn.BatchNorm3d(c, eps=eps)

    def forward(self, x):
        nl = self.nl
        n, c, t, h, w = x.shape
        mode, G = nl["mode"], self.group
        if mode == "spacetime" and G:
            xs = x.view(n, c, t // G, G, h, w).permute(0, 2, 1, 3, 4, 5).reshape(n * t // G, c, G, h, w)
        elif mode == "spacetime":
            xs = x
        elif mode == "space":
            xs = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, 1, h, w)
        else:  # time: keys at the same position across frames
            xs = x.permute(0, 3, 4, 1, 2).reshape(n * h * w, c, t, 1, 1)
        b = xs.shape[0]
        pool = lambda v: F.max_pool3d(v, (1, 2, 2), (1, 2, 2))
        sub, inst = nl["subsample"], nl["instantiation"]
        if inst == "gaussian":
            theta = xs
            phi = xs if sub == "none" else pool(xs)
            g = self.conv_g(pool(xs) if sub == "before" else xs)
            if sub == "after":
                g = pool(g)
        elif sub == "before":
            theta = self.conv_theta(xs)
            xp = pool(xs)
            phi, g = self.conv_phi(xp), self.conv_g(xp)
        else:
            theta, phi, g = self.conv_theta(xs), self.conv_phi(xs), self.conv_g(xs)
            if sub == "after":
                phi, g = pool(phi), pool(g)
        theta = theta.flatten(2).transpose(1, 2)   # [B, N, d]
        phi = phi.flatten(2).transpose(1, 2)       # [B, M, d]
        g = g.flatten(2).transpose(1, 2)           # [B, M, C/2]
        m = phi.shape[1]
        if inst in ("embedded_gaussian", "gaussian"):
            a = torch.bmm(theta, phi.transpose(1, 2))
            if inst == "embedded_gaussian" and nl["scale"]:
                a = a * self.inner ** -0.5
            p = F.softmax(a, dim=2)
        elif inst == "dot_product":
            p = torch.bmm(theta, phi.transpose(1, 2)) / m
        else:
            wf = self.concat_project.weight.view(2 * self.inner)
            q = theta @ wf[: self.inner]           # [B, N]
            k = phi @ wf[self.inner:]              # [B, M]
            p = F.relu(q[:, :, None] + k[:, None, :]) / m
        y = torch.bmm(p, g)                        # [B, N, C/2]
        if mode == "time":
            y = y.reshape(n, h, w, t, self.inner).permute(0, 4, 3, 1, 2)
        elif mode == "space":
            y = y.reshape(n, t, h, w, self.inner).permute(0, 4, 1, 2, 3)
        else:
            y = y.reshape(n, t, h, w, self.inner).permute(0, 4, 1, 2, 3)
        z = self.conv_out(y.contiguous())
        if nl["norm"] == "bn":
            z = self.bn(z)
        return x + z


class SqueezeExcitation(nn.Module):
    """Hu et al. 2018, eq. 2-3, in 3D: x * sigmoid(W2 relu(W1 mean_THW(x)))."""
    def __init__(self, c, r):
        super().__init__()
        self.fc1 = nn.Linear(c, max(1, c // r))
        self.fc2 = nn.Linear(max(1, c // r), c)

    def forward(self, x):
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3, 4))))))
        return x * g[:, :, None, None, None]


class GlobalContext(nn.Module):
    """Cao et al. (GCNet) 2019, eq. 3, in 3D: one softmax map over T*H*W pools a context,
    C -> C/r -> LayerNorm -> ReLU -> C, added at every position. conv_mask is GCNet's 1x1 conv
    to one channel, written as a Linear (the same weights, [1, C])."""
    def __init__(self, c, r):
        super().__init__()
        self.conv_mask = nn.Linear(c, 1)
        self.fc1 = nn.Linear(c, max(1, c // r))
        self.ln = nn.LayerNorm(max(1, c // r))
        self.fc2 = nn.Linear(max(1, c // r), c)

    def forward(self, x):
        flat = x.flatten(2)                                       # [N, C, P]
        a = F.softmax(self.conv_mask(flat.transpose(1, 2)).squeeze(2), dim=1)   # [N, P]
        context = torch.bmm(flat, a.unsqueeze(2)).squeeze(2)      # [N, C]
        t = self.fc2(F.relu(self.ln(self.fc1(context))))
        return x + t[:, :, None, None, None]


class CBAM(nn.Module):
    """Woo et al. 2018, eq. 2-3, in 3D: channel gate sigmoid(MLP(avg) + MLP(max)) over T*H*W,
    then a spatial gate sigmoid(conv_1x7x7([mean_c; max_c])) per frame."""
    def __init__(self, c, r):
        super().__init__()
        self.fc1 = nn.Linear(c, max(1, c // r))
        self.fc2 = nn.Linear(max(1, c // r), c)
        self.spatial = nn.Conv3d(2, 1, (1, 7, 7), padding=(0, 3, 3))

    def forward(self, x):
        mlp = lambda d: self.fc2(F.relu(self.fc1(d)))
        gate = torch.sigmoid(mlp(x.mean(dim=(2, 3, 4))) + mlp(x.amax(dim=(2, 3, 4))))
        x = x * gate[:, :, None, None, None]
        maps = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)   # [N, 2, T, H, W]
        return x * torch.sigmoid(self.spatial(maps))


class DualAttention(nn.Module):
    """Fu et al. (DANet) 2019, eq. 1-4, in 3D: x + alpha * PAM + beta * CAM (the paper's
    softmax of A_i . A_j in CAM, not the official code's max - energy)."""
    def __init__(self, c):
        super().__init__()
        self.pam = nn.Module()
        self.pam.query = nn.Linear(c, max(1, c // 8))
        self.pam.key = nn.Linear(c, max(1, c // 8))
        self.pam.value = nn.Linear(c, c)
        self.pam.gamma = nn.Parameter(torch.zeros(1))
        self.cam = nn.Module()
        self.cam.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        a = x.flatten(2).transpose(1, 2)                                   # [N, P, C]
        s = F.softmax(self.pam.query(a) @ self.pam.key(a).transpose(1, 2), dim=-1)   # [N, P, P]
        pos = s @ self.pam.value(a)                                        # [N, P, C]
        chan_map = F.softmax(a.transpose(1, 2) @ a, dim=-1)                # [N, C, C]: row j, softmax over i
        chan = a @ chan_map.transpose(1, 2)                                # [N, P, C]
        out = self.pam.gamma * pos + self.cam.gamma * chan
        return x + out.transpose(1, 2).reshape(x.shape)


class CrissCross(nn.Module):
    """Huang et al. (CCNet) 2019, eq. 1-2, in 3D: each position attends to its row, column and
    time line (itself once: masked in the column and time lines), one softmax over
    H + W + T keys; H' = gamma * sum A V + H; applied twice with the same weights."""
    def __init__(self, c):
        super().__init__()
        self.query = nn.Linear(c, max(1, c // 8))
        self.key = nn.Linear(c, max(1, c // 8))
        self.value = nn.Linear(c, c)
        self.gamma = nn.Parameter(torch.zeros(1))

    def one_pass(self, x):
        h = x.permute(0, 2, 3, 4, 1)                                       # [N, T, H, W, C]
        q, k, v = self.query(h), self.key(h), self.value(h)
        T, H, W = h.shape[1:4]
        eye = lambda n: torch.diag(torch.full((n,), float("-inf")))
        e_col = torch.einsum("nthwd,ntgwd->nthwg", q, k) + eye(H)[None, None, :, None, :]   # key row g of column w
        e_row = torch.einsum("nthwd,nthvd->nthwv", q, k)                                     # key column v of row h
        e_time = torch.einsum("nthwd,nshwd->nthws", q, k) + eye(T)[None, :, None, None, :]  # key frame s
        a = F.softmax(torch.cat([e_col, e_row, e_time], dim=-1), dim=-1)
        a_col, a_row, a_time = a[..., :H], a[..., H:H + W], a[..., H + W:]
        out = (torch.einsum("nthwg,ntgwc->nthwc", a_col, v) + torch.einsum("nthwv,nthvc->nthwc", a_row, v)
               + torch.einsum("nthws,nshwc->nthwc", a_time, v))
        return x + self.gamma * out.permute(0, 4, 1, 2, 3)

    def forward(self, x):
        return self.one_pass(self.one_pass(x))


class APNB(nn.Module):
    """Zhu et al. (ANN) 2019, APNB, in 3D: keys and values average-pooled per frame to bins
    1, 3, 6, 8 (110 per frame); the queries share the key embedding (conv, BN, ReLU);
    z = x + W_o softmax(Q K^T / sqrt(C/2)) V."""
    def __init__(self, c, eps):
        super().__init__()
        self.key = nn.Conv3d(c, c // 2, 1)
        self.key_bn = nn.BatchNorm3d(c // 2, eps=eps)
        self.value = nn.Conv3d(c, c // 2, 1)
        self.out = nn.Conv3d(c // 2, c, 1)

    @staticmethod
    def pyramid(x):                                                        # [N, C, T, H, W] -> [N, T*110, C]
        n, c, t = x.shape[:3]
        frames = x.transpose(1, 2).reshape(n * t, c, *x.shape[3:])
        pooled = torch.cat([F.adaptive_avg_pool2d(frames, b).flatten(2) for b in (1, 3, 6, 8)], dim=2)   # [NT, C, 110]
        return pooled.reshape(n, t, c, -1).permute(0, 1, 3, 2).reshape(n, -1, c)

    def forward(self, x):
        k = F.relu(self.key_bn(self.key(x)))
        v = self.value(x)
        q = k.flatten(2).transpose(1, 2) / (k.shape[1] ** 0.5)             # [N, P, C/2]
        y = F.softmax(q @ self.pyramid(k).transpose(1, 2), dim=-1) @ self.pyramid(v)   # [N, P, C/2]
        return x + self.out(y.transpose(1, 2).reshape(k.shape))


class ResidualAttention(nn.Module):
    """Wang et al. 2017, eq. 3, in 3D: (1 + M(x)) * x, M = sigmoid(conv1x1(up(relu(conv3x3(maxpool(x)))))),
    per frame: 3x3 max pool stride 2, bilinear up-sampling with aligned corners."""
    def __init__(self, c, r):
        super().__init__()
        self.down = nn.Conv3d(c, max(1, c // r), (1, 3, 3), padding=(0, 1, 1))
        self.mask = nn.Conv3d(max(1, c // r), c, 1)

    def forward(self, x):
        d = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        h = F.relu(self.down(d))
        up = F.interpolate(h, size=x.shape[2:], mode="trilinear", align_corners=True)
        return x * (1 + torch.sigmoid(self.mask(up)))


def slot_block(c, nl, group, eps):
    kind = nl.get("type", "nonlocal")
    r = nl.get("reduction", 16)
    if kind == "se":
        return SqueezeExcitation(c, r)
    if kind == "gc":
        return GlobalContext(c, r)
    if kind == "cbam":
        return CBAM(c, r)
    if kind == "danet":
        return DualAttention(c)
    if kind == "cc":
        return CrissCross(c)
    if kind == "apnb":
        return APNB(c, eps)
    if kind == "residual_attention":
        return ResidualAttention(c, r)
    return NonLocal(c, nl, group, eps)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        m = cfg["model"]
        self.cfg = cfg
        i3d, w, layout, eps = m["arch"] == "i3d", m["width"], m["layout"], m["batch_norm"]["epsilon"]
        kt = 5 if i3d else 1
        s1 = 2 if layout in ("official_org", "paper") else 1
        self.s1 = nn.Module()
        self.s1.pathway0_stem = nn.Module()
        self.s1.pathway0_stem.conv = nn.Conv3d(3, w, (kt, 7, 7), stride=(s1, 2, 2), padding=(kt // 2, 3, 3), bias=False)
        self.s1.pathway0_stem.bn = nn.BatchNorm3d(w, eps=eps)
        self.pool1 = {"official": ((1, 3, 3), (1, 2, 2), (0, 0, 0)), "official_org": ((2, 3, 3), (2, 2, 2), (0, 0, 0)),
                      "slowfast": ((1, 3, 3), (1, 2, 2), (0, 1, 1)), "paper": ((3, 3, 3), (2, 2, 2), (1, 1, 1))}[layout]
        self.pool2 = ((3, 1, 1), (2, 1, 1), (1, 0, 0)) if layout == "paper" else ((2, 1, 1), (2, 1, 1), (0, 0, 0))
        nl = m["nonlocal"]
        cin = w
        self.stage_blocks = []
        for s, count in enumerate(blocks_per_stage(m["depth"])):
            stage = nn.Module()
            setattr(self, f"s{s + 2}", stage)
            inner, cout = w << s, 4 * (w << s)
            names = []
            for i in range(count):
                spatial = 2 if (i == 0 and s > 0) else 1
                inflated = i3d and (s == 0 or (i % 2 == 0 if s < 3 else i % 2 == 1))
                on_a = inflated and m["inflation"] == "3x1x1"
                on_b = inflated and m["inflation"] == "3x3x3"
                setattr(stage, f"pathway0_res{i}",
                        Bottleneck(cin if i == 0 else cout, inner, cout, spatial, 3 if on_a else 1, 3 if on_b else 1, eps))
                names.append(f"pathway0_res{i}")
                if i in nl["blocks"].get(STAGES[s], []):
                    slot = f"pathway0_{nl.get('type', 'nonlocal')}{i}"
                    setattr(stage, slot, slot_block(cout, nl, nl["temporal_groups"].get(STAGES[s], 0), eps))
                    names.append(slot)
            self.stage_blocks.append(names)
            cin = cout
        self.head = nn.Module()
        self.head.projection = nn.Linear(cin, m["classes"])
        self.window = max(1, m["train_crop"] // 32)

    def features(self, x):
        h = F.relu(self.s1.pathway0_stem.bn(self.s1.pathway0_stem.conv(x)))
        h = F.max_pool3d(h, *self.pool1)
        for s, names in enumerate(self.stage_blocks):
            stage = getattr(self, f"s{s + 2}")
            for name in names:
                h = getattr(stage, name)(h)
            if s == 0:
                h = F.max_pool3d(h, *self.pool2)
        return h

    def forward(self, x):
        """Global-pool logits [N, classes] (dropout is left out: fixtures are deterministic)."""
        h = self.features(x)
        return self.head.projection(h.mean(dim=(2, 3, 4)))

    def predict(self, x):
        """Fully convolutional test head: per-window softmax, mean over windows."""
        h = self.features(x)
        win = (h.shape[2], min(self.window, h.shape[3]), min(self.window, h.shape[4]))
        pooled = F.avg_pool3d(h, win, stride=1).permute(0, 2, 3, 4, 1)   # [N, t, h, w, C]
        logits = self.head.projection(pooled)
        probs = F.softmax(logits, dim=-1).flatten(1, 3).mean(dim=1)
        return probs, logits
