// Fused forward and backward of the small network n(u) of bohb-das operations, batched over trials:
//   h[t,b,n,c] = relu<S>(u[t,b,n-1] w1[t,0,c] + u[t,b,n] w1[t,1,c] + u[t,b,n+1] w1[t,2,c] + shift[t,c])
//   out[t,b,n] = sum_c sum_k w2t[t,k,c] h[t,b,n+k-1,c]          (zero padding at both ends)
// BatchNorm is already folded into w1 and shift by the caller. The hidden activations are never
// stored: the backward pass recomputes them. Trials marked inactive (``active``: (T,) bool; in a
// retraining batch, those whose chosen operation has no network) are skipped: output and gradients 0.
//
// Vectors run across the batch: a job is one trial's block of batch rows, transposed into a small
// buffer with one row per signal position (and a zero row at each end). The three taps of position n
// are then whole rows n-1, n, n+1, so no lane is wasted on padding (vectors along a 50-sample signal
// left 14 of 64 lanes empty) and every sum over channels is a plain vector accumulation. The forward
// pass keeps two batch vectors in flight so that its accumulations over channels are not serialized
// by the FMA latency; the backward pass takes channels in small groups whose weight gradients stay in
// registers for a whole column of positions, and carries the input gradient of the last three
// positions in registers, so each position's row is written once per group. Weight gradients are
// summed per job and reduced by the caller, so results do not depend on the number of threads.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <vector>

namespace {

constexpr int kChannelsPerGroup = 2;  // backward: 7 accumulators per channel must fit the registers
constexpr int64_t kVectorBytes = 64;  // one AVX-512 register; the compiler splits it where narrower

template <typename S, int64_t Bytes>
struct VectorOf;  // GCC's vector types cannot be templated directly
template <int64_t Bytes>
struct VectorOf<float, Bytes> {
  typedef float type __attribute__((vector_size(Bytes)));
};
template <int64_t Bytes>
struct VectorOf<double, Bytes> {
  typedef double type __attribute__((vector_size(Bytes)));
};
template <typename S>
using Vec = typename VectorOf<S, kVectorBytes>::type;

template <typename S>
constexpr int64_t kLanes = kVectorBytes / sizeof(S);

template <typename V, typename S>
inline V load_as(const S* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

template <typename S>
inline Vec<S> load(const S* p) {
  return load_as<Vec<S>>(p);
}

template <typename S, typename V>
inline void store(S* p, V v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

// GCC lowers a conditional on a vector wider than the target's registers lane by lane, with scalar
// compares and blends (measured: the forward pass 3x and a whole trial 20x slower on an AVX2 machine
// than the same code with register-wide conditionals). The two conditionals of the kernel are
// therefore taken on register-wide pieces: the same lanes and operations, bit-identical results
// (the backward pass works on such pieces throughout).
#if defined(__AVX512F__)
constexpr int64_t kRegisterBytes = 64;
#elif defined(__AVX__)
constexpr int64_t kRegisterBytes = 32;
#else
constexpr int64_t kRegisterBytes = 16;
#endif
constexpr int kPieces = kVectorBytes / kRegisterBytes;
// Batch vectors per forward job: two fill AVX-512's 32 registers; where a vector takes two registers
// or more, two spill (measured on AVX2: one is 4.8x faster). Each lane is computed alone either way.
constexpr int kForwardVectors = kPieces == 1 ? 2 : 1;

template <typename S>
using Piece = typename VectorOf<S, kRegisterBytes>::type;

// like torch.relu, NaN propagates: a diverged trial must show
template <typename S>
inline Piece<S> relu_piece(Piece<S> v) {
  return v < S(0) ? Piece<S>{} : v;
}

template <typename S>
inline Vec<S> relu(Vec<S> v) {  // piece by piece
  Piece<S> pieces[kPieces];
  __builtin_memcpy(pieces, &v, sizeof(v));
  for (int i = 0; i < kPieces; ++i) pieces[i] = relu_piece<S>(pieces[i]);
  __builtin_memcpy(&v, pieces, sizeof(v));
  return v;
}

// One job's signals, position-major: row p holds position p-1 of ``width`` batch rows (rows 0 and
// N+1 are the zero padding; lanes past the batch are zero).
template <typename S>
struct Columns {
  int64_t N, width;
  std::vector<S> data;

  Columns(int64_t N, int64_t width) : N(N), width(width), data((N + 2) * width) {}

  S* row(int64_t p) { return &data[p * width]; }
  const S* row(int64_t p) const { return &data[p * width]; }

  // Rows b0..b0+rows-1 of a (rows, N) signal block ``src`` (row stride N).
  void gather(const S* src, int64_t rows) {
    std::fill(data.begin(), data.end(), S(0));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < N; ++n) data[(n + 1) * width + r] = src[r * N + n];
  }

  // The inverse of ``gather`` for the positions 1..N.
  void scatter(S* dst, int64_t rows) const {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t n = 0; n < N; ++n) dst[r * N + n] = data[(n + 1) * width + r];
  }
};

template <typename S>
void forward_impl(const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift, const at::Tensor& w2t,
                  const at::Tensor& active, at::Tensor& out) {
  constexpr int64_t L = kLanes<S>;
  constexpr int V = kForwardVectors;
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2), C = w1.size(2);
  const int64_t blocks = (B + V * L - 1) / (V * L);
  const S* up = u.data_ptr<S>();
  const S* w1p = w1.data_ptr<S>();
  const S* sp = shift.data_ptr<S>();
  const S* w2p = w2t.data_ptr<S>();
  S* op = out.data_ptr<S>();
  const bool* ap = active.data_ptr<bool>();
  at::parallel_for(0, T * blocks, 1, [&](int64_t begin, int64_t end) {
    Columns<S> x(N, V * L), z(3 * N, V * L);  // z: rows k*N + n hold z_k[n] = sum_c w2t[k,c] h[n,c]
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / blocks, b0 = (job % blocks) * V * L, rows = std::min(B, b0 + V * L) - b0;
      if (!ap[t]) {  // a trial whose network is weighted 0: its output is 0
        std::fill(op + (t * B + b0) * N, op + (t * B + b0 + rows) * N, S(0));
        continue;
      }
      const S* w1t = w1p + t * 3 * C;
      const S* st = sp + t * C;
      const S* w2 = w2p + t * 3 * C;
      x.gather(up + (t * B + b0) * N, rows);
      for (int64_t n = 0; n < N; ++n) {
        Vec<S> a[V], b[V], d[V], z0[V], z1[V], z2[V];
        for (int v = 0; v < V; ++v) {
          a[v] = load(x.row(n) + v * L), b[v] = load(x.row(n + 1) + v * L), d[v] = load(x.row(n + 2) + v * L);
          z0[v] = z1[v] = z2[v] = Vec<S>{};
        }
        for (int64_t c = 0; c < C; ++c) {
#pragma GCC unroll 2
          for (int v = 0; v < V; ++v) {
            const Vec<S> h = relu<S>(a[v] * w1t[c] + b[v] * w1t[C + c] + d[v] * w1t[2 * C + c] + st[c]);
            z0[v] += h * w2[c];
            z1[v] += h * w2[C + c];
            z2[v] += h * w2[2 * C + c];
          }
        }
        for (int v = 0; v < V; ++v) {
          store(z.row(n) + v * L, z0[v]);
          store(z.row(N + n) + v * L, z1[v]);
          store(z.row(2 * N + n) + v * L, z2[v]);
        }
      }
      // out[n] = z_1[n] + z_0[n-1] + z_2[n+1], written into x's rows (u is no longer needed)
      for (int64_t n = 0; n < N; ++n) {
        S* o = x.row(n + 1);
        const S* z1 = z.row(N + n);
        for (int64_t l = 0; l < V * L; ++l) {
          o[l] = z1[l] + (n > 0 ? z.row(n - 1)[l] : S(0)) + (n + 1 < N ? z.row(2 * N + n + 1)[l] : S(0));
        }
      }
      x.scatter(op + (t * B + b0) * N, rows);
    }
  });
}

// The backward pass for channels c..c+G-1 over one job's positions: their weight gradients
// accumulate in registers and are reduced once; the input gradient of positions n-1, n, n+1 is
// carried in registers and position n-1's added to its row of ``back`` once complete. Every lane is
// computed alone until the reduction, so the pass runs one register-wide piece of the lanes at a time
// (fewer live registers where a vector spans several), and the reduction then sums the lanes in
// their order, as one vector's: bit-identical results on every instruction set.
template <typename S, int G>
void channels_pass(int64_t c, int64_t C, const Columns<S>& x, const Columns<S>& g, Columns<S>& back,
                   const S* w1t, const S* st, const S* w2, S* aw1, S* as, S* aw2) {
  using P = Piece<S>;
  constexpr int64_t L = kLanes<S>, R = kRegisterBytes / sizeof(S);
  const int64_t N = x.N;
  S w10[G], w11[G], w12[G], s[G], v0[G], v1[G], v2[G];
  S sums[G][7][L];  // the accumulators' lanes, piece by piece
  for (int i = 0; i < G; ++i) {
    w10[i] = w1t[c + i], w11[i] = w1t[C + c + i], w12[i] = w1t[2 * C + c + i], s[i] = st[c + i];
    v0[i] = w2[c + i], v1[i] = w2[C + c + i], v2[i] = w2[2 * C + c + i];
  }
  for (int piece = 0; piece < kPieces; ++piece) {
    P acc[G][7];  // aw2 (k = 0, 1, 2), aw1 (k = 0, 1, 2), shift
    for (int i = 0; i < G; ++i)
      for (int k = 0; k < 7; ++k) acc[i][k] = P{};
    for (int64_t lane = piece * R; lane < x.width; lane += L) {
      P before{}, here{};  // input gradient of positions n-1 and n, this group's share
      for (int64_t n = 0; n < N; ++n) {
        const P a = load_as<P>(x.row(n) + lane), b = load_as<P>(x.row(n + 1) + lane), d = load_as<P>(x.row(n + 2) + lane);
        // z_k[n] feeds out[n - k + 1]: the gradient reaching it is g[n+1], g[n], g[n-1] for k = 0, 1, 2
        const P g0 = load_as<P>(g.row(n + 2) + lane), g1 = load_as<P>(g.row(n + 1) + lane), g2 = load_as<P>(g.row(n) + lane);
        P after{};
#pragma GCC unroll 4
        for (int i = 0; i < G; ++i) {
          const P h = relu_piece<S>(a * w10[i] + b * w11[i] + d * w12[i] + s[i]);
          acc[i][0] += h * g0;
          acc[i][1] += h * g1;
          acc[i][2] += h * g2;
          const P gh = h > S(0) ? g0 * v0[i] + g1 * v1[i] + g2 * v2[i] : P{};
          acc[i][3] += a * gh;
          acc[i][4] += b * gh;
          acc[i][5] += d * gh;
          acc[i][6] += gh;
          before += gh * w10[i];
          here += gh * w11[i];
          after += gh * w12[i];
        }
        if (n > 0) {  // position n-1 is complete for this group; row n holds it
          S* r = back.row(n) + lane;
          store(r, load_as<P>(r) + before);
        }
        before = here, here = after;
      }
      S* r = back.row(N) + lane;  // the last position; ``here`` would be position N, outside the signal
      store(r, load_as<P>(r) + before);
    }
    for (int i = 0; i < G; ++i)
      for (int k = 0; k < 7; ++k) __builtin_memcpy(&sums[i][k][piece * R], &acc[i][k], sizeof(P));
  }
  for (int i = 0; i < G; ++i) {
    S* targets[7] = {&aw2[c + i], &aw2[C + c + i], &aw2[2 * C + c + i], &aw1[c + i], &aw1[C + c + i],
                     &aw1[2 * C + c + i], &as[c + i]};
    for (int k = 0; k < 7; ++k) {
      S total = 0;
      for (int64_t l = 0; l < L; ++l) total += sums[i][k][l];
      *targets[k] = total;
    }
  }
}

template <typename S>
void backward_impl(const at::Tensor& g, const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift,
                   const at::Tensor& w2t, const at::Tensor& active, at::Tensor& gu, at::Tensor& gw1,
                   at::Tensor& gshift, at::Tensor& gw2t, int64_t width) {
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2), C = w1.size(2);
  const int64_t blocks = (B + width - 1) / width;
  const S* gp = g.data_ptr<S>();
  const S* up = u.data_ptr<S>();
  const S* w1p = w1.data_ptr<S>();
  const S* sp = shift.data_ptr<S>();
  const S* w2p = w2t.data_ptr<S>();
  S* gup = gu.data_ptr<S>();
  S* gw1p = gw1.data_ptr<S>();    // (T, blocks, 3, C)
  S* gsp = gshift.data_ptr<S>();  // (T, blocks, C)
  S* gw2p = gw2t.data_ptr<S>();   // (T, blocks, 3, C)
  const bool* ap = active.data_ptr<bool>();
  at::parallel_for(0, T * blocks, 1, [&](int64_t begin, int64_t end) {
    Columns<S> x(N, width), grad(N, width), back(N, width);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / blocks, b0 = (job % blocks) * width, rows = std::min(B, b0 + width) - b0;
      if (!ap[t]) {  // an output of 0 whatever the inputs: every gradient is 0
        std::fill(gup + (t * B + b0) * N, gup + (t * B + b0 + rows) * N, S(0));
        std::fill(gw1p + job * 3 * C, gw1p + (job + 1) * 3 * C, S(0));
        std::fill(gsp + job * C, gsp + (job + 1) * C, S(0));
        std::fill(gw2p + job * 3 * C, gw2p + (job + 1) * 3 * C, S(0));
        continue;
      }
      const S* w1t = w1p + t * 3 * C;
      const S* st = sp + t * C;
      const S* w2 = w2p + t * 3 * C;
      x.gather(up + (t * B + b0) * N, rows);
      grad.gather(gp + (t * B + b0) * N, rows);
      std::fill(back.data.begin(), back.data.end(), S(0));
      int64_t c = 0;
      for (; c + kChannelsPerGroup <= C; c += kChannelsPerGroup) {
        channels_pass<S, kChannelsPerGroup>(c, C, x, grad, back, w1t, st, w2, gw1p + job * 3 * C, gsp + job * C,
                                            gw2p + job * 3 * C);
      }
      for (; c < C; ++c) {
        channels_pass<S, 1>(c, C, x, grad, back, w1t, st, w2, gw1p + job * 3 * C, gsp + job * C, gw2p + job * 3 * C);
      }
      back.scatter(gup + (t * B + b0) * N, rows);
    }
  });
}

// Train-mode BatchNorm of the first convolution needs the mean and covariance of its three input taps
// X_i[b,n] = u[b,n+i-1] (zero outside the signal) over a trial's batch and positions. The taps are
// shifted windows of one zero-padded row w, so their moments are window sums of per-position sums of
// w, w^2 and the products of w with its next two neighbours over the batch. w is the padded row less
// the trial's mean of u: covariances do not move, and float32 keeps its digits.
template <typename S>
void tap_moments_impl(const at::Tensor& u, at::Tensor& mean, at::Tensor& cov) {
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2), P = N + 2;
  const S* up = u.data_ptr<S>();
  S* mp = mean.data_ptr<S>();  // (T, 3)
  S* cp = cov.data_ptr<S>();   // (T, 3, 3)
  at::parallel_for(0, T, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> w(P), first(P), second(P), lag1(P), lag2(P);
    for (int64_t t = begin; t < end; ++t) {
      const S* ut = up + t * B * N;
      // the mean of u from per-position sums over the batch: vector additions, not one serial chain
      std::fill(first.begin(), first.end(), S(0));
      for (int64_t b = 0; b < B; ++b)
        for (int64_t n = 0; n < N; ++n) first[n] += ut[b * N + n];
      S center = 0;
      for (int64_t n = 0; n < N; ++n) center += first[n];
      center /= S(B * N);
      std::fill(first.begin(), first.end(), S(0));
      std::fill(second.begin(), second.end(), S(0));
      std::fill(lag1.begin(), lag1.end(), S(0));
      std::fill(lag2.begin(), lag2.end(), S(0));
      for (int64_t b = 0; b < B; ++b) {
        w[0] = w[P - 1] = -center;
        for (int64_t n = 0; n < N; ++n) w[n + 1] = ut[b * N + n] - center;
        for (int64_t p = 0; p < P; ++p) {
          first[p] += w[p];
          second[p] += w[p] * w[p];
        }
        for (int64_t p = 0; p + 1 < P; ++p) lag1[p] += w[p] * w[p + 1];
        for (int64_t p = 0; p + 2 < P; ++p) lag2[p] += w[p] * w[p + 2];
      }
      auto window = [&](const std::vector<S>& sums, int64_t start) {
        S total = 0;
        for (int64_t n = 0; n < N; ++n) total += sums[start + n];
        return total;
      };
      const S count = S(B * N);
      S tap[3];
      for (int i = 0; i < 3; ++i) tap[i] = window(first, i) / count;  // less the center
      // E[X_i X_j] less the center, i <= j: tap i at position n meets tap j at n + (j - i)
      const S product[3][3] = {{window(second, 0), window(lag1, 0), window(lag2, 0)},
                               {0, window(second, 1), window(lag1, 1)},
                               {0, 0, window(second, 2)}};
      for (int i = 0; i < 3; ++i) {
        mp[t * 3 + i] = tap[i] + center;
        for (int j = 0; j < 3; ++j) {
          cp[t * 9 + i * 3 + j] = product[std::min(i, j)][std::max(i, j)] / count - tap[i] * tap[j];
        }
      }
    }
  });
}

// The gradient of the tap moments: with S = G + G^T of the covariance's gradient G,
// dL/dX_k[b,n] = (g_mean[k] + sum_j S[k,j] (X_j[b,n] - mean_j)) / count, gathered back onto u
// through the shift of each tap.
template <typename S>
void tap_moments_backward_impl(const at::Tensor& u, const at::Tensor& mean, const at::Tensor& gmean,
                               const at::Tensor& gcov, at::Tensor& gu) {
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2);
  const S* up = u.data_ptr<S>();
  const S* mp = mean.data_ptr<S>();
  const S* gmp = gmean.data_ptr<S>();
  const S* gcp = gcov.data_ptr<S>();
  S* gp = gu.data_ptr<S>();
  at::parallel_for(0, T, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> x(N + 4);  // u's row with two zeros at each end: x[m + 2] = u[m]
    for (int64_t t = begin; t < end; ++t) {
      const S count = S(B * N);
      S sym[3][3], base[3];
      for (int k = 0; k < 3; ++k) {
        base[k] = gmp[t * 3 + k];
        for (int j = 0; j < 3; ++j) sym[k][j] = gcp[t * 9 + k * 3 + j] + gcp[t * 9 + j * 3 + k];
      }
      for (int k = 0; k < 3; ++k)
        for (int j = 0; j < 3; ++j) base[k] -= sym[k][j] * mp[t * 3 + j];
      for (int64_t b = 0; b < B; ++b) {
        const S* row = up + (t * B + b) * N;
        std::copy(row, row + N, x.begin() + 2);
        S* out = gp + (t * B + b) * N;
        for (int64_t m = 0; m < N; ++m) {
          S total = 0;
          for (int k = 0; k < 3; ++k) {
            const int64_t n = m - k + 1;  // u[m] is tap k of position n
            if (n < 0 || n >= N) continue;
            S dx = base[k];
            for (int j = 0; j < 3; ++j) dx += sym[k][j] * x[n + j + 1];  // X_j[n] = u[n + j - 1]
            total += dx;
          }
          out[m] = total / count;
        }
      }
    }
  });
}

at::Tensor fused_forward(const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift, const at::Tensor& w2t,
                         const at::Tensor& active) {
  auto out = at::empty_like(u);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "fused_forward", [&] {
    forward_impl<scalar_t>(u, w1, shift, w2t, active, out);
  });
  return out;
}

std::vector<at::Tensor> fused_backward(const at::Tensor& g, const at::Tensor& u, const at::Tensor& w1,
                                       const at::Tensor& shift, const at::Tensor& w2t, const at::Tensor& active) {
  const int64_t T = u.size(0), B = u.size(1), C = w1.size(2);
  // A job's batch rows: whole vectors, several per job where the batch allows (fewer weight-gradient
  // partials to reduce), one where it is small (enough jobs for the threads).
  const int64_t lanes = kVectorBytes / u.element_size();
  const int64_t width = std::min<int64_t>(4 * lanes, (B + lanes - 1) / lanes * lanes);
  const int64_t blocks = (B + width - 1) / width;
  auto gu = at::empty_like(u);
  auto gw1 = at::empty({T, blocks, 3, C}, u.options());
  auto gshift = at::empty({T, blocks, C}, u.options());
  auto gw2t = at::empty({T, blocks, 3, C}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "fused_backward", [&] {
    backward_impl<scalar_t>(g, u, w1, shift, w2t, active, gu, gw1, gshift, gw2t, width);
  });
  return {gu, gw1.sum(1), gshift.sum(1), gw2t.sum(1)};
}

std::vector<at::Tensor> tap_moments(const at::Tensor& u) {
  auto mean = at::empty({u.size(0), 3}, u.options());
  auto cov = at::empty({u.size(0), 3, 3}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "tap_moments", [&] { tap_moments_impl<scalar_t>(u, mean, cov); });
  return {mean, cov};
}

at::Tensor tap_moments_backward(const at::Tensor& u, const at::Tensor& mean, const at::Tensor& gmean,
                                const at::Tensor& gcov) {
  auto gu = at::empty_like(u);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "tap_moments_backward", [&] {
    tap_moments_backward_impl<scalar_t>(u, mean, gmean, gcov, gu);
  });
  return gu;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &fused_forward, "fused small-net forward");
  m.def("backward", &fused_backward, "fused small-net backward (recomputes the hidden layer)");
  m.def("tap_moments", &tap_moments, "mean and covariance of the three taps of a zero-padded signal");
  m.def("tap_moments_backward", &tap_moments_backward, "gradient of tap_moments");
}
