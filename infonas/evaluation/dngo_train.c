/* DNGO network training on the CPU, one run at a time in cache: the fast path of dngo.train_batched.
 *
 * Why C: on the CPU the batched PyTorch step is bound by per-op memory traffic and by small batched
 * matmuls (10 x dim by dim x 128 per run); here one run's weights, Adam moments and activations
 * (about 40 KB) stay in the L1/L2 cache for all its epochs. Same model, loss, minibatch order and
 * Adam update as train_batched (torch.optim.Adam's formulas); rounding differs in the last bits.
 * Compiled at first use by infonas/evaluation/native.py, once per REAL (float, double).
 *
 * Layout (row-major, contiguous): x (runs, n, dim), y (runs, n), orders (runs, epochs, n),
 * w1 (runs, dim, units), b1 (runs, units), w2 (runs, units), b2 (runs); weights updated in place.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    REAL *w1, *b1, *w2, *b2;
} Params;

static void adam(REAL *p, const REAL *g, REAL *m, REAL *v, int64_t len, REAL beta1, REAL beta2,
                 REAL step_size, REAL bc2_sqrt, REAL eps) {
    for (int64_t i = 0; i < len; i++) {
        m[i] = beta1 * m[i] + (1 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
        p[i] -= step_size * m[i] / (SQRT(v[i]) / bc2_sqrt + eps);
    }
}

/* One run: `epochs` epochs of minibatch Adam on the mean squared error. Returns 0, or 1 without memory. */
static int train_run(int64_t n, int64_t dim, int64_t units, int64_t epochs, int64_t bs, const REAL *x,
                     const REAL *y, const int64_t *orders, Params p, double lr, double beta1, double beta2,
                     double eps) {
    const int64_t n_params = dim * units + 2 * units + 1;
    REAL *work = calloc((size_t)(3 * n_params + bs * units + bs * dim + 2 * bs), sizeof(REAL));
    if (!work) return 1;
    REAL *grad = work, *m = grad + n_params, *v = m + n_params;  /* [w1 | b1 | w2 | b2] each */
    REAL *h = v + n_params, *xb = h + bs * units, *yb = xb + bs * dim, *d_out = yb + bs;
    REAL *gw1 = grad, *gb1 = gw1 + dim * units, *gw2 = gb1 + units, *gb2 = gw2 + units;
    REAL *params[4] = {p.w1, p.b1, p.w2, p.b2};
    const int64_t sizes[4] = {dim * units, units, units, 1};
    int64_t t = 0;
    for (int64_t e = 0; e < epochs; e++) {
        const int64_t *order = orders + e * n;
        for (int64_t start = 0; start + bs <= n; start += bs) {
            t++;
            for (int64_t b = 0; b < bs; b++) {
                memcpy(xb + b * dim, x + order[start + b] * dim, (size_t)dim * sizeof(REAL));
                yb[b] = y[order[start + b]];
            }
            for (int64_t b = 0; b < bs; b++) {  /* forward: h = tanh(x W1 + b1), out = h w2 + b2 */
                REAL *hb = h + b * units;
                memcpy(hb, p.b1, (size_t)units * sizeof(REAL));
                for (int64_t k = 0; k < dim; k++) {
                    const REAL xk = xb[b * dim + k], *wk = p.w1 + k * units;
                    for (int64_t j = 0; j < units; j++) hb[j] += xk * wk[j];
                }
                REAL out = 0;
                for (int64_t j = 0; j < units; j++) {
                    hb[j] = TANH(hb[j]);
                    out += hb[j] * p.w2[j];
                }
                d_out[b] = (out + p.b2[0] - yb[b]) * ((REAL)2 / (REAL)bs);  /* d mean((out - y)^2) / d out */
            }
            memset(grad, 0, (size_t)n_params * sizeof(REAL));
            for (int64_t b = 0; b < bs; b++) {  /* backward through the output layer and tanh */
                REAL *hb = h + b * units;
                const REAL d = d_out[b];
                gb2[0] += d;
                for (int64_t j = 0; j < units; j++) {
                    gw2[j] += d * hb[j];
                    hb[j] = d * p.w2[j] * (1 - hb[j] * hb[j]);  /* h now holds d loss / d pre-activation */
                    gb1[j] += hb[j];
                }
                for (int64_t k = 0; k < dim; k++) {
                    const REAL xk = xb[b * dim + k];
                    REAL *gk = gw1 + k * units;
                    for (int64_t j = 0; j < units; j++) gk[j] += xk * hb[j];
                }
            }
            const double bc1 = 1 - pow(beta1, (double)t), bc2 = 1 - pow(beta2, (double)t);
            REAL *g = grad, *mm = m, *vv = v;
            for (int i = 0; i < 4; i++) {
                adam(params[i], g, mm, vv, sizes[i], (REAL)beta1, (REAL)beta2, (REAL)(lr / bc1), (REAL)sqrt(bc2),
                     (REAL)eps);
                g += sizes[i], mm += sizes[i], vv += sizes[i];
            }
        }
    }
    free(work);
    return 0;
}

/* Runs [first, last) of the batch; the caller splits runs across threads. Returns the failed runs. */
int64_t dngo_train(int64_t first, int64_t last, int64_t n, int64_t dim, int64_t units, int64_t epochs,
                   int64_t bs, const REAL *x, const REAL *y, const int64_t *orders, REAL *w1, REAL *b1, REAL *w2,
                   REAL *b2, double lr, double beta1, double beta2, double eps) {
    int64_t failed = 0;
    for (int64_t r = first; r < last; r++) {
        Params p = {w1 + r * dim * units, b1 + r * units, w2 + r * units, b2 + r};
        failed += train_run(n, dim, units, epochs, bs, x + r * n * dim, y + r * n, orders + r * epochs * n, p, lr,
                            beta1, beta2, eps);
    }
    return failed;
}
