/* DNGO on the CPU: network training (the fast path of dngo.train_batched) and the per-row terms of
 * the EI bounds (of dngo._bound_terms). Compiled at first use by dngo_native.py, once per REAL (float,
 * double).
 *
 * Why C: on the CPU the batched PyTorch step is bound by per-op memory traffic and by small batched
 * matmuls (10 x dim by dim x 128 per run); here one run's weights, Adam moments and activations
 * (about 40 KB) stay in the L1/L2 cache for all its epochs, and the two products with W1 keep their
 * accumulators in registers. Same model, loss, minibatch order and Adam update as train_batched
 * (torch.optim.Adam's formulas); rounding differs in the last bits. The bound terms run a tile of
 * rows through the hidden layer, its tanh and the projections in registers, where PyTorch makes a
 * pass over memory for each step.
 *
 * Training layout (row-major, contiguous): x (runs, n, dim), y (runs, n), orders (runs, epochs, n),
 * w1 (runs, dim, units), b1 (runs, units), w2 (runs, units), b2 (runs); weights updated in place.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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

/* Four 64-byte vectors of accumulators, kept in registers across the loops below (GCC/Clang vector
 * extensions; without AVX-512 the compiler splits them into narrower instructions). */
typedef REAL vec __attribute__((vector_size(64), aligned(sizeof(REAL))));
#define LANES ((int64_t)(64 / sizeof(REAL)))
#define JB (4 * LANES)

static inline vec load(const REAL *p) { return *(const vec *)p; }
static inline void store(REAL *p, vec v) { *(vec *)p = v; }

/* out[0:width] = init[0:width] (zeros where init is NULL) + sum_i s[i * s_step] rows[i * row_step + 0:width]:
 * both products with W1 (forward x W1, gradient x^T dz), JB columns at a time with the accumulators in
 * registers, then one column at a time for the rest. */
static void accumulate(const REAL *s, int64_t s_step, const REAL *rows, int64_t row_step, int64_t count,
                       int64_t width, const REAL *init, REAL *out) {
    int64_t j = 0;
    for (; j + JB <= width; j += JB) {
        vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        if (init) a0 = load(init + j), a1 = load(init + j + LANES), a2 = load(init + j + 2 * LANES),
                  a3 = load(init + j + 3 * LANES);
        for (int64_t i = 0; i < count; i++) {
            const REAL si = s[i * s_step], *ri = rows + i * row_step + j;
            a0 += si * load(ri), a1 += si * load(ri + LANES), a2 += si * load(ri + 2 * LANES),
                a3 += si * load(ri + 3 * LANES);
        }
        store(out + j, a0), store(out + j + LANES, a1), store(out + j + 2 * LANES, a2), store(out + j + 3 * LANES, a3);
    }
    for (; j < width; j++) {
        REAL acc = init ? init[j] : 0;
        for (int64_t i = 0; i < count; i++) acc += s[i * s_step] * rows[i * row_step + j];
        out[j] = acc;
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
                const REAL *row = x + order[start + b] * dim;
                for (int64_t k = 0; k < dim; k++) xb[b * dim + k] = row[k];
                yb[b] = y[order[start + b]];
            }
            /* forward: h = tanh(x W1 + b1), out = h w2 + b2 */
            for (int64_t b = 0; b < bs; b++) accumulate(xb + b * dim, 1, p.w1, units, dim, units, p.b1, h + b * units);
            for (int64_t i = 0; i < bs * units; i++) h[i] = TANH(h[i]);
            gb2[0] = 0;
            for (int64_t b = 0; b < bs; b++) {
                REAL out = 0;
                for (int64_t j = 0; j < units; j++) out += h[b * units + j] * p.w2[j];
                d_out[b] = (out + p.b2[0] - yb[b]) * ((REAL)2 / (REAL)bs);  /* d mean((out - y)^2) / d out */
                gb2[0] += d_out[b];
            }
            /* backward through the output layer and tanh; h then holds d loss / d pre-activation */
            for (int64_t j = 0; j < units; j++) gw2[j] = gb1[j] = 0;
            for (int64_t b = 0; b < bs; b++) {
                REAL *hb = h + b * units;
                const REAL d = d_out[b];
                for (int64_t j = 0; j < units; j++) {
                    gw2[j] += d * hb[j];
                    hb[j] = d * p.w2[j] * (1 - hb[j] * hb[j]);
                    gb1[j] += hb[j];
                }
            }
            for (int64_t k = 0; k < dim; k++) accumulate(xb + k, dim, h, units, bs, units, NULL, gw1 + k * units);
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

/* Units of the hidden layer, and columns of the basis, computed side by side: independent accumulator
 * chains, so that the FMA units are not waiting on each other's latency. The caller pads the basis to a
 * multiple of COLS columns with zeros. */
#define UNITS 8
#define COLS 11

/* The per-row terms of dngo.ei_bounds for runs [first, last), LANES rows at a time with the rows in the
 * vector lanes: h = tanh(x W1 + b1) over `units`, proj = h B with B = basis (units, cols) = [posterior
 * mean weights | eigenvectors | zero columns]; mean = proj_0, near = sum_c spread_c proj_c^2 (c >= 1),
 * rest = |h|^2 - sum_c proj_c^2. feats (rows, dim); w1 (runs, dim, units); b1 (runs, units); basis (runs,
 * units, cols); spread (runs, cols - 1); outputs (runs, rows). Returns 0, or 1 without memory. */
int64_t dngo_bound_terms(int64_t first, int64_t last, int64_t rows, int64_t dim, int64_t units, int64_t cols,
                         const REAL *feats, const REAL *w1, const REAL *b1, const REAL *basis, const REAL *spread,
                         REAL *mean, REAL *near, REAL *rest) {
    if (cols % COLS) return 1;
    vec *xt = aligned_alloc(64, (size_t)(dim + units) * sizeof(vec));
    if (!xt) return 1;
    vec *ht = xt + dim;  /* x and h of one tile, transposed: xt[k] holds input k of the tile's rows */
    for (int64_t r = first; r < last; r++) {
        const REAL *w = w1 + r * dim * units, *b = b1 + r * units, *bas = basis + r * units * cols;
        const REAL *spr = spread + r * (cols - 1);
        for (int64_t i0 = 0; i0 < rows; i0 += LANES) {
            const int64_t lanes = rows - i0 < LANES ? rows - i0 : LANES;
            for (int64_t k = 0; k < dim; k++)
                for (int64_t l = 0; l < LANES; l++) xt[k][l] = l < lanes ? feats[(i0 + l) * dim + k] : 0;
            int64_t j0 = 0;
            for (; j0 + UNITS <= units; j0 += UNITS) {
                vec a[UNITS];
                for (int c = 0; c < UNITS; c++) a[c] = xt[0] * w[j0 + c] + b[j0 + c];
                for (int64_t k = 1; k < dim; k++)
                    for (int c = 0; c < UNITS; c++) a[c] += xt[k] * w[k * units + j0 + c];
                for (int c = 0; c < UNITS; c++) ht[j0 + c] = a[c];
            }
            for (; j0 < units; j0++) {
                vec acc = xt[0] * w[j0] + b[j0];
                for (int64_t k = 1; k < dim; k++) acc += xt[k] * w[k * units + j0];
                ht[j0] = acc;
            }
            REAL *hflat = (REAL *)ht;
            for (int64_t i = 0; i < units * LANES; i++) hflat[i] = TANH(hflat[i]);
            vec hh = {0}, near_acc = {0}, mean_acc = {0};
            for (int64_t j = 0; j < units; j++) hh += ht[j] * ht[j];
            for (int64_t c0 = 0; c0 < cols; c0 += COLS) {
                vec p[COLS];
                for (int c = 0; c < COLS; c++) p[c] = ht[0] * bas[c0 + c];
                for (int64_t j = 1; j < units; j++)
                    for (int c = 0; c < COLS; c++) p[c] += ht[j] * bas[j * cols + c0 + c];
                for (int c = 0; c < COLS; c++) {
                    if (c0 + c == 0) {
                        mean_acc = p[c];
                    } else {
                        hh -= p[c] * p[c];
                        near_acc += p[c] * p[c] * spr[c0 + c - 1];
                    }
                }
            }
            for (int64_t l = 0; l < lanes; l++) {
                mean[r * rows + i0 + l] = mean_acc[l];
                near[r * rows + i0 + l] = near_acc[l];
                rest[r * rows + i0 + l] = hh[l];
            }
        }
    }
    free(xt);
    return 0;
}
