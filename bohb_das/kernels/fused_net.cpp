// Fused forward and backward of the small network n(u) of bohb-das operations, batched over trials:
//   h[t,b,n,c] = relu(u[t,b,n-1] w1[t,0,c] + u[t,b,n] w1[t,1,c] + u[t,b,n+1] w1[t,2,c] + shift[t,c])
//   out[t,b,n] = sum_c sum_k w2t[t,k,c] h[t,b,n+k-1,c]          (zero padding at both ends)
// BatchNorm is already folded into w1 and shift by the caller. The hidden activations are never
// stored: the backward pass recomputes them one signal row at a time, in L1 cache. The weight
// gradients are accumulated per fixed chunk of rows and summed by the caller, so results do not
// depend on the number of threads.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <vector>

namespace {

constexpr int64_t kRowsPerChunk = 16;

template <typename S>
void hidden_row(const S* u, int64_t N, const S* w1, const S* shift, int64_t C, S* h) {
  for (int64_t n = 0; n < N; ++n) {
    const S a = n > 0 ? u[n - 1] : S(0), b = u[n], d = n + 1 < N ? u[n + 1] : S(0);
    S* hn = h + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const S v = a * w1[c] + b * w1[C + c] + d * w1[2 * C + c] + shift[c];
      hn[c] = v < S(0) ? S(0) : v;  // like torch.relu, NaN propagates: a diverged trial must show
    }
  }
}

template <typename S>
void forward_impl(const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift, const at::Tensor& w2t,
                  at::Tensor& out) {
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2), C = w1.size(2);
  const int64_t chunks = (B + kRowsPerChunk - 1) / kRowsPerChunk;
  const S* up = u.data_ptr<S>();
  const S* w1p = w1.data_ptr<S>();
  const S* sp = shift.data_ptr<S>();
  const S* w2p = w2t.data_ptr<S>();
  S* op = out.data_ptr<S>();
  at::parallel_for(0, T * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> h(N * C), z(3 * N);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / chunks, b0 = (job % chunks) * kRowsPerChunk;
      const S* w1t = w1p + t * 3 * C;
      const S* st = sp + t * C;
      const S* w2 = w2p + t * 3 * C;
      for (int64_t b = b0; b < std::min(B, b0 + kRowsPerChunk); ++b) {
        const S* row = up + (t * B + b) * N;
        hidden_row(row, N, w1t, st, C, h.data());
        for (int64_t n = 0; n < N; ++n) {
          const S* hn = h.data() + n * C;
          S z0 = 0, z1 = 0, z2 = 0;
#pragma omp simd reduction(+ : z0, z1, z2)
          for (int64_t c = 0; c < C; ++c) {
            z0 += hn[c] * w2[c];
            z1 += hn[c] * w2[C + c];
            z2 += hn[c] * w2[2 * C + c];
          }
          z[3 * n] = z0;
          z[3 * n + 1] = z1;
          z[3 * n + 2] = z2;
        }
        S* o = op + (t * B + b) * N;
        for (int64_t n = 0; n < N; ++n) {
          o[n] = z[3 * n + 1] + (n > 0 ? z[3 * (n - 1)] : S(0)) + (n + 1 < N ? z[3 * (n + 1) + 2] : S(0));
        }
      }
    }
  });
}

template <typename S>
void backward_impl(const at::Tensor& g, const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift,
                   const at::Tensor& w2t, at::Tensor& gu, at::Tensor& gw1, at::Tensor& gshift, at::Tensor& gw2t) {
  const int64_t T = u.size(0), B = u.size(1), N = u.size(2), C = w1.size(2);
  const int64_t chunks = (B + kRowsPerChunk - 1) / kRowsPerChunk;
  const S* gp = g.data_ptr<S>();
  const S* up = u.data_ptr<S>();
  const S* w1p = w1.data_ptr<S>();
  const S* sp = shift.data_ptr<S>();
  const S* w2p = w2t.data_ptr<S>();
  S* gup = gu.data_ptr<S>();
  S* gw1p = gw1.data_ptr<S>();    // (T, chunks, 3, C)
  S* gsp = gshift.data_ptr<S>();  // (T, chunks, C)
  S* gw2p = gw2t.data_ptr<S>();   // (T, chunks, 3, C)
  at::parallel_for(0, T * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> h(N * C);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / chunks, b0 = (job % chunks) * kRowsPerChunk;
      const S* w1t = w1p + t * 3 * C;
      const S* st = sp + t * C;
      const S* w2 = w2p + t * 3 * C;
      S* aw1 = gw1p + job * 3 * C;
      S* as = gsp + job * C;
      S* aw2 = gw2p + job * 3 * C;
      for (int64_t b = b0; b < std::min(B, b0 + kRowsPerChunk); ++b) {
        const S* row = up + (t * B + b) * N;
        const S* grow = gp + (t * B + b) * N;
        S* gurow = gup + (t * B + b) * N;
        hidden_row(row, N, w1t, st, C, h.data());
        for (int64_t m = 0; m < N; ++m) {
          // z[m, k] feeds out[m - k + 1].
          const S g0 = m + 1 < N ? grow[m + 1] : S(0), g1 = grow[m], g2 = m > 0 ? grow[m - 1] : S(0);
          const S a = m > 0 ? row[m - 1] : S(0), b1 = row[m], d = m + 1 < N ? row[m + 1] : S(0);
          const S* hm = h.data() + m * C;
          S t0 = 0, t1 = 0, t2 = 0;
#pragma omp simd reduction(+ : t0, t1, t2)
          for (int64_t c = 0; c < C; ++c) {
            const S hc = hm[c];
            aw2[c] += hc * g0;
            aw2[C + c] += hc * g1;
            aw2[2 * C + c] += hc * g2;
            const S gh = hc > S(0) ? g0 * w2[c] + g1 * w2[C + c] + g2 * w2[2 * C + c] : S(0);
            aw1[c] += a * gh;
            aw1[C + c] += b1 * gh;
            aw1[2 * C + c] += d * gh;
            as[c] += gh;
            t0 += gh * w1t[c];
            t1 += gh * w1t[C + c];
            t2 += gh * w1t[2 * C + c];
          }
          if (m > 0) gurow[m - 1] += t0;
          gurow[m] += t1;
          if (m + 1 < N) gurow[m + 1] += t2;
        }
      }
    }
  });
}

at::Tensor fused_forward(const at::Tensor& u, const at::Tensor& w1, const at::Tensor& shift, const at::Tensor& w2t) {
  auto out = at::empty_like(u);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "fused_forward", [&] { forward_impl<scalar_t>(u, w1, shift, w2t, out); });
  return out;
}

std::vector<at::Tensor> fused_backward(const at::Tensor& g, const at::Tensor& u, const at::Tensor& w1,
                                       const at::Tensor& shift, const at::Tensor& w2t) {
  const int64_t T = u.size(0), B = u.size(1), C = w1.size(2);
  const int64_t chunks = (B + kRowsPerChunk - 1) / kRowsPerChunk;
  auto gu = at::zeros_like(u);
  auto gw1 = at::zeros({T, chunks, 3, C}, u.options());
  auto gshift = at::zeros({T, chunks, C}, u.options());
  auto gw2t = at::zeros({T, chunks, 3, C}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "fused_backward", [&] {
    backward_impl<scalar_t>(g, u, w1, shift, w2t, gu, gw1, gshift, gw2t);
  });
  return {gu, gw1.sum(1), gshift.sum(1), gw2t.sum(1)};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &fused_forward, "fused small-net forward");
  m.def("backward", &fused_backward, "fused small-net backward (recomputes the hidden layer)");
}
