"""Plain per-image transcriptions of make_cifar_c.py (hendrycks/robustness) with numpy/scipy/Pillow in place
of OpenCV and scikit-image: the reference the corruption tests compare with and bench/corruptions.py times.

`per_image(name, img, rng, **params)` runs one corruption on one uint8 (H, W, 3) image the way the
original does (one image at a time, draws from `rng` in the original's order) and returns floats on the
0..255 scale (before any rounding).
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image
from scipy import ndimage


def rounded(v01):
    """Our documented rounding of the original's clip(v, 0, 1) * 255."""
    return np.clip(np.rint(np.clip(v01, 0, 1) * 255), 0, 255)


def sk_gaussian(img, sigma, mode="nearest", truncate=4.0):
    sig = (sigma, sigma, 0) if img.ndim == 3 else sigma
    return ndimage.gaussian_filter(img, sigma=sig, mode=mode, truncate=truncate)


def rgb2hsv(arr):
    out = np.empty_like(arr)
    out_v = arr.max(-1)
    delta = np.ptp(arr, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out_s = delta / out_v
        out_s[delta == 0.0] = 0.0
        idx = arr[..., 0] == out_v
        out[idx, 0] = (arr[idx, 1] - arr[idx, 2]) / delta[idx]
        idx = arr[..., 1] == out_v
        out[idx, 0] = 2.0 + (arr[idx, 2] - arr[idx, 0]) / delta[idx]
        idx = arr[..., 2] == out_v
        out[idx, 0] = 4.0 + (arr[idx, 0] - arr[idx, 1]) / delta[idx]
    out_h = (out[..., 0] / 6.0) % 1.0
    out_h[delta == 0.0] = 0.0
    out[..., 0], out[..., 1], out[..., 2] = out_h, out_s, out_v
    out[np.isnan(out)] = 0
    return out


def hsv2rgb(arr):
    hi = np.floor(arr[..., 0] * 6)
    f = arr[..., 0] * 6 - hi
    p = arr[..., 2] * (1 - arr[..., 1])
    q = arr[..., 2] * (1 - f * arr[..., 1])
    t = arr[..., 2] * (1 - (1 - f) * arr[..., 1])
    v = arr[..., 2]
    hi = np.stack([hi, hi, hi], axis=-1).astype(np.uint8) % 6
    return np.choose(hi, np.stack([np.stack((v, t, p), axis=-1), np.stack((q, v, p), axis=-1),
                                   np.stack((p, v, t), axis=-1), np.stack((p, q, v), axis=-1),
                                   np.stack((t, p, v), axis=-1), np.stack((v, p, q), axis=-1)]))


def cv2_gauss(ksize, sigma):
    i = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-(i**2) / (2 * sigma**2))
    return g / g.sum()


def disk(radius, alias_blur):
    L = np.arange(-8, 8 + 1)
    X_, Y_ = np.meshgrid(L, L)
    d = np.array((X_**2 + Y_**2) <= radius**2, dtype=np.float32)
    d /= np.sum(d)
    g = cv2_gauss(3, alias_blur)
    return ndimage.correlate(d.astype(np.float64), np.outer(g, g), mode="mirror")  # GaussianBlur, reflect-101


def plasma_fractal(uniform, mapsize=32, wibbledecay=3):
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100

    def wibbledmean(array):
        return array / 4 + wibble * uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(squareaccum)
        drgrid = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ltsum = (drgrid + np.roll(drgrid, 1, axis=0)) + (ulgrid + np.roll(ulgrid, -1, axis=1))
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(ltsum)
        ttsum = (drgrid + np.roll(drgrid, 1, axis=1)) + (ulgrid + np.roll(ulgrid, -1, axis=0))
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def clipped_zoom(img, zoom_factor):
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = ndimage.zoom(img[top:top + ch, top:top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top:trim_top + h, trim_top:trim_top + h]


def warp_affine_exact(img, M):
    """cv2.warpAffine(img, M, (W, H), INTER_LINEAR, BORDER_REFLECT_101) with exact (unquantised) coordinates."""
    h, w = img.shape[:2]
    a, b, c, d, e, f = M.ravel()
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    sx = ia * (xx - c) + ib * (yy - f)
    sy = id_ * (xx - c) + ie * (yy - f)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]

    def r101(i, n):
        i = np.abs(i) % (2 * n - 2)
        return np.where(i >= n, 2 * n - 2 - i, i)

    def g(yi, xi):
        return img[r101(yi, h), r101(xi, w)]

    return (g(y0, x0) * (1 - fx) + g(y0, x0 + 1) * fx) * (1 - fy) + (g(y0 + 1, x0) * (1 - fx) + g(y0 + 1, x0 + 1) * fx) * fy




def per_image(name, img, rng, **p):
    x = np.asarray(img) / 255.0
    if name == "gaussian_noise":
        return np.clip(x + rng.normal(size=x.shape, scale=p["c"]), 0, 1) * 255
    if name == "shot_noise":
        return np.clip(rng.poisson(x * p["c"]) / p["c"], 0, 1) * 255
    if name == "impulse_noise":
        out = x.copy()
        flipped = rng.random(x.shape) <= p["amount"]
        salted = rng.random(x.shape) <= 0.5
        out[flipped & salted] = 1
        out[flipped & ~salted] = 0
        return out * 255
    if name == "speckle_noise":
        return np.clip(x + x * rng.normal(size=x.shape, scale=p["c"]), 0, 1) * 255
    if name == "gaussian_blur":
        return np.clip(sk_gaussian(x, p["sigma"]), 0, 1) * 255
    if name == "glass_blur":
        h_, w_ = x.shape[:2]
        d = p["max_delta"]
        y = np.uint8(sk_gaussian(x, p["sigma"]) * 255)
        for _ in range(p["iterations"]):
            for h in range(h_ - d, d, -1):
                for w in range(w_ - d, d, -1):
                    dx, dy = rng.integers(-d, d, size=(2,))
                    h_prime, w_prime = h + dy, w + dx
                    y[h, w], y[h_prime, w_prime] = y[h_prime, w_prime], y[h, w]
        return np.clip(sk_gaussian(y / 255.0, p["sigma"]), 0, 1) * 255
    if name == "defocus_blur":
        k = disk(p["radius"], p["alias_blur"])
        ch = [ndimage.correlate(x[:, :, d], k, mode="mirror") for d in range(x.shape[2])]
        return np.clip(np.array(ch).transpose(1, 2, 0), 0, 1) * 255
    if name == "zoom_blur":
        xf = x.astype(np.float32)
        out = np.zeros_like(xf)
        cs = np.arange(1, p["max_zoom"], 0.01)
        for z in cs:
            out += clipped_zoom(xf, z)
        return np.clip((xf + out) / (len(cs) + 1), 0, 1) * 255
    if name == "fog":
        mx = x.max()
        y = x + p["strength"] * plasma_fractal(rng.uniform, 32, p["decay"])[:32, :32][..., None]
        return np.clip(y * mx / (mx + p["strength"]), 0, 1) * 255
    if name == "brightness":
        hsv = rgb2hsv(x)
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + p["c"], 0, 1)
        return np.clip(hsv2rgb(hsv), 0, 1) * 255
    if name == "contrast":
        m = np.mean(x, axis=(0, 1), keepdims=True)
        return np.clip((x - m) * p["c"] + m, 0, 1) * 255
    if name == "saturate":
        hsv = rgb2hsv(x)
        hsv[:, :, 1] = np.clip(hsv[:, :, 1] * p["a"] + p["b"], 0, 1)
        return np.clip(hsv2rgb(hsv), 0, 1) * 255
    if name == "jpeg_compression":
        buf = BytesIO()
        Image.fromarray(np.asarray(img)).save(buf, "JPEG", quality=p["quality"])
        return np.asarray(Image.open(buf)).astype(np.float64)
    if name == "pixelate":
        h, w = img.shape[:2]
        im = Image.fromarray(np.asarray(img)).resize((int(w * p["c"]), int(h * p["c"])), Image.BOX)
        return np.asarray(im.resize((w, h), Image.BOX)).astype(np.float64)
    if name == "elastic_transform":
        return elastic_per_image(img, rng, **p)
    if name in ("motion_blur", "snow", "frost", "spatter"):
        return opencv_per_image(name, img, rng, p)
    raise KeyError(name)


def opencv_per_image(name, img, rng, p):
    """make_cifar_c.py's motion_blur, snow, frost and spatter for one image, with OpenCV and scikit-image as the
    original calls them and ImageMagick's motion blur as transcribed by the `imagecorruptions` package (the
    `corruptions` extra). Draws from `rng` in the order noisebench draws them for one image."""
    import cv2
    from imagecorruptions.corruptions import _motion_blur
    from skimage.filters import gaussian

    x = np.asarray(img, dtype=np.float32) / 255.0
    h, w = x.shape[:2]
    if name == "motion_blur":
        angle = rng.uniform(-45, 45)
        return np.clip(_motion_blur(np.asarray(img), radius=p["radius"], sigma=p["sigma"], angle=angle), 0, 255)
    if name == "snow":
        layer = rng.normal(p["mean"], p["std"], size=(h, w))
        angle = rng.uniform(-135, -45)
        layer = clipped_zoom(layer[..., None], p["zoom"])
        layer[layer < p["threshold"]] = 0
        u8 = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
        layer = np.clip(np.rint(_motion_blur(u8, p["radius"], p["sigma"], angle)), 0, 255)[..., None] / 255.0
        gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(h, w, 1)
        x = p["mix"] * x + (1 - p["mix"]) * np.maximum(x, gray * 1.5 + 0.5)
        return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255
    if name == "frost":
        from noisebench.corruptors.frost import PICTURES, frost_dir

        k, u = int(rng.integers(0, 5)), rng.random(2)
        pic = cv2.resize(cv2.imread(str(frost_dir() / PICTURES[k])), (0, 0), fx=p["scale"], fy=p["scale"])
        r0, c0 = int(u[0] * (pic.shape[0] - h)), int(u[1] * (pic.shape[1] - w))
        return np.clip(p["a"] * np.asarray(img) + p["b"] * pic[r0 : r0 + h, c0 : c0 + w][..., [2, 1, 0]], 0, 255)
    liquid = gaussian(rng.normal(p["mean"], p["std"], size=(h, w)), sigma=p["sigma"])  # spatter
    liquid[liquid < p["threshold"]] = 0
    if p["mud"] == 0:
        liquid = (np.clip(liquid, 0, 1) * 255).astype(np.uint8)
        dist = cv2.distanceTransform(255 - cv2.Canny(liquid, 50, 150), cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        dist = cv2.filter2D(dist, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
        m = liquid * cv2.blur(dist, (3, 3)).astype(np.float32)
        m = m / m.max() * p["gain"] if m.max() > 0 else m
        return np.clip(x + m[..., None] * np.array([175, 238, 238]) / 255.0, 0, 1) * 255
    m = gaussian(np.where(liquid > p["threshold"], 1, 0).astype(np.float32), sigma=p["gain"])
    m[m < 0.8] = 0
    return np.clip(x * (1 - m[..., None]) + m[..., None] * np.array([63, 42, 20]) / 255.0, 0, 1) * 255


def elastic_per_image(img, rng, alpha, sigma, affine):
    image = np.array(img, dtype=np.float32) / 255.0
    h, w = image.shape[:2]
    s = min(h, w)
    c = (s * alpha, s * sigma, s * affine)
    center_square = np.float32((h, w)) // 2
    q = s // 3
    pts1 = np.float32([center_square + q, [center_square[0] + q, center_square[1] - q], center_square - q])
    pts2 = pts1 + rng.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    A = np.zeros((6, 6))
    b = np.zeros(6)
    for k in range(3):  # cv2.getAffineTransform
        A[2 * k, :3] = A[2 * k + 1, 3:] = [pts1[k, 0], pts1[k, 1], 1]
        b[2 * k : 2 * k + 2] = pts2[k]
    image = warp_affine_exact(image, np.linalg.solve(A, b).reshape(2, 3)).astype(np.float32)
    dx = (sk_gaussian(rng.uniform(-1, 1, size=(h, w)), c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    dy = (sk_gaussian(rng.uniform(-1, 1, size=(h, w)), c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    xx, yy, zz = np.meshgrid(np.arange(w), np.arange(h), np.arange(image.shape[2]))
    ind = (np.reshape(yy + dy[..., None], (-1, 1)), np.reshape(xx + dx[..., None], (-1, 1)), np.reshape(zz, (-1, 1)))
    out = ndimage.map_coordinates(image, ind, order=1, mode="reflect").reshape(image.shape)
    return np.clip(out, 0, 1) * 255
