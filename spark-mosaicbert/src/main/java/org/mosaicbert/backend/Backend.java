package org.mosaicbert.backend;

/**
 * All that the model, the optimizer and the collectives ask of a device: buffers allocated by what they hold
 * ({@link BufferKind}, from which the backend alone chooses the storage), the kernels of the MosaicBERT encoder, one
 * method each, named for their math, and how much attention state the backend keeps (for the activation plan). Shapes
 * are in the Javadoc; activations are unpadded and token-major, {@code [nnz, hidden]}. Linear weights are PyTorch's
 * {@code [out, in]}: y = x·Wᵀ + b. Where a backward method is given more than one backend reads (the forward output,
 * the slopes, the logits), each backend reads what its own forward pass kept and ignores the rest.
 *
 * <p>The accumulate convention, stated once: parameter gradients are added to ({@code +=}); activation gradients and
 * forward outputs are written ({@code =}).
 */
public interface Backend extends AutoCloseable {
  /**
   * A zeroed buffer of {@code floats} floats holding {@code kind}, which alone decides how the backend stores it;
   * {@code name} is for logs and errors. Allocation happens once, at model construction.
   */
  Buffer allocate(BufferKind kind, long floats, String name);

  /**
   * Gives a buffer of this backend back, for activations rebuilt at another size; its views must not be used again.
   * Parameters, gradients and optimizer state live as long as the backend.
   */
  void free(Buffer buffer);

  void upload(View dst, float[] src, int srcOffset, int n);

  void download(float[] dst, int dstOffset, View src, int n);

  void zero(View x, long n);

  /** dst = src over n floats. */
  void copy(View dst, View src, long n);

  /** out[rows, outDim] = inp[rows, in] · weight[outDim, in]ᵀ (+ bias[outDim] when not null). */
  void linear(View out, View inp, View weight, View bias, int rows, int in, int outDim);

  /**
   * The weight [outDim, in] at {@code weight}, made ready for scoring at {@code precision} (BF16 or INT8; FP32 layers
   * call {@link #linear(View, View, View, View, int, int, int)} on the parameter itself). Backends that score in
   * float32 only say so.
   */
  default ScoringWeight scoringWeight(View weight, int in, int outDim, Precision precision) {
    throw new UnsupportedOperationException(getClass().getSimpleName() + " scores in fp32 only, not "
        + precision.value() + "; score on the CPU (device=cpu) for bf16 or int8");
  }

  /** out[rows, outDim] = inp[rows, in] · weightᵀ (+ bias[outDim] when not null), at the weight's precision. */
  default void linear(View out, View inp, ScoringWeight weight, View bias, int rows) {
    throw new UnsupportedOperationException(getClass().getSimpleName() + " has no " + weight.precision().value()
        + " weights");
  }

  /**
   * dweight[outDim, in] += doutᵀ·inp; dbias[outDim] += column sums of dout (when not null); dinp[rows, in] =
   * dout·weight, or += when {@code accumulate} (when dinp is not null).
   */
  void linearBackward(View dinp, boolean accumulate, View dweight, View dbias, View dout, View inp, View weight,
      int rows, int in, int outDim);

  /** out[n, H] = word[ids[i]] + type[typeIds[i]]. */
  void embedding(View out, int[] ids, int[] typeIds, View word, View type, int n, int hidden);

  /** dword[ids[i]] += dout[i] (except rows whose id is padId); dtype[typeIds[i]] += dout[i]. */
  void embeddingBackward(View dword, View dtype, View dout, int[] ids, int[] typeIds, int n, int hidden, int padId);

  /** out = a + b over n floats (out may alias a). */
  void add(View out, View a, View b, long n);

  /** out[n, H] = LayerNorm(inp) · w + b; mean[n], rstd[n] kept for the backward pass. */
  void layerNorm(View out, View mean, View rstd, View inp, View w, View b, int n, int hidden, float eps);

  /** dinp = LayerNorm'ᵀ·dout; dw += Σ dout·x̂; db += Σ dout. */
  void layerNormBackward(View dinp, View dw, View db, View dout, View inp, View w, View mean, View rstd, int n,
      int hidden);

  /**
   * Inverted dropout in place: element (r, c) is zeroed when Hashing.uniform(Hashing.key(rowKeys[r], site), c) falls
   * below p, else scaled by 1/(1-p). The mask is a pure function of the keys, so the same call on a gradient is the
   * backward pass.
   */
  void dropout(View x, int rows, int width, float p, long[] rowKeys, long site);

  /**
   * The end of a post-LN block: x ← dropout(x) + residual, then out[n, H] = LayerNorm(x) · w + b with mean[n] and
   * rstd[n] kept. On entry x holds the branch's output; on exit, what was normalised (the backward pass reads it).
   * The default makes the three passes {@link #dropout}, {@link #add} and {@link #layerNorm}; a backend may fuse them
   * into one, with the same result.
   */
  default void dropoutResidualLayerNorm(View out, View mean, View rstd, View x, View residual, View w, View b, int n,
      int hidden, float eps, float p, long[] rowKeys, long site) {
    dropout(x, n, hidden, p, rowKeys, site);
    add(x, x, residual, (long) n * hidden);
    layerNorm(out, mean, rstd, x, w, b, n, hidden, eps);
  }

  /**
   * Its backward pass: dResidual = LayerNorm'ᵀ·dout, what flows to the residual; dBranch = dropout(dResidual), what
   * flows into the branch (p = 0: a copy); dw and db accumulate as in {@link #layerNormBackward}. The default makes
   * the three passes; a backend may fuse them.
   */
  default void dropoutResidualLayerNormBackward(View dResidual, View dBranch, View dw, View db, View dout, View x,
      View w, View mean, View rstd, int n, int hidden, float p, long[] rowKeys, long site) {
    layerNormBackward(dResidual, dw, db, dout, x, w, mean, rstd, n, hidden);
    copy(dBranch, dResidual, (long) n * hidden);
    dropout(dBranch, n, hidden, p, rowKeys, site);
  }

  /** out[n, I] = GELU(g[:, :I]) ⊙ g[:, I:] with g [n, 2I] (exact erf GELU on the first half). */
  void geglu(View out, View g, int n, int intermediate);

  /** dg[n, 2I] from dout[n, I]. */
  void gegluBackward(View dg, View dout, View g, int n, int intermediate);

  /** out = GELU(inp), exact erf form. */
  void gelu(View out, View inp, long n);

  void geluBackward(View dinp, View dout, View inp, long n);

  /** out = tanh(inp). */
  void tanh(View out, View inp, long n);

  /** dinp = dout · (1 - out²). */
  void tanhBackward(View dinp, View dout, View out, long n);

  /**
   * Floats of attention state this backend keeps for one sequence of {@code seqLen} tokens between {@link #attention}
   * and {@link #attentionBackward}: each head's row max and 1/sum, 2·heads·S, on the CPU; a logsumexp per head and
   * row, heads·S, on CUDA. Neither keeps P. It must not grow more slowly than seqLen (state/seqLen never falls as
   * seqLen grows), so that a micro-batch of at most T tokens needs at most T·state(S)/S floats for sequences of at
   * most S tokens.
   */
  long attentionStateFloats(int heads, int seqLen);

  /**
   * ALiBi self-attention per sequence over the unpadded layout: for each sequence b (rows cuSeqlens[b] ..
   * cuSeqlens[b+1]) and head h, P = softmax(Q·Kᵀ/√d − slopes[h]·|i−j|), ctx = P·V. qkv [nnz, 3H] holds Q | K | V,
   * each head-major; ctx [nnz, H]. {@code state} keeps what the backward pass reads, in the backend's own layout:
   * room for the sum of {@link #attentionStateFloats} over the sequences.
   */
  void attention(View ctx, View state, View qkv, int[] cuSeqlens, int numSeqs, int heads, int headDim,
      float[] slopes);

  /**
   * dqkv [nnz, 3H] from dctx [nnz, H], given what the forward pass left: its output ctx, its state, its qkv and the
   * same slopes. Both backends recompute P from their state, FlashAttention style, and use rowsum(dctx ⊙ ctx) for
   * rowsum(dP ⊙ P) (the CPU only for sequences longer than one of its tiles).
   */
  void attentionBackward(View dqkv, View dctx, View ctx, View state, View qkv, int[] cuSeqlens, int numSeqs,
      int heads, int headDim, float[] slopes);

  /** out[i] = inp[rows[i]] for rows.length rows of width floats. */
  void gatherRows(View out, View inp, int[] rows, int width);

  /** out[rows[i]] += inp[i]. */
  void scatterAddRows(View out, View inp, int[] rows, int width);

  /**
   * Softmax cross-entropy over rows of logits [rows, classes]: probs[r] = softmax(logits[r]) (probs must not alias
   * logits) and lse[r] = logsumexp(logits[r]), a float32 statistic kept for the backward pass. Returns the sum over
   * rows of −log probs[r][labels[r]] and the rows whose first largest logit is the label.
   */
  LossSum crossEntropy(View probs, View lse, View logits, int[] labels, int rows, int classes);

  /**
   * dlogits = (softmax(logits) − onehot(labels)) · scale, given what {@link #crossEntropy} left: its probs and lse, and
   * the logits, unchanged since (dlogits may alias probs). Each backend reads what it needs: the CPU the probs; CUDA,
   * whose probs are bf16, recomputes the softmax from the logits and lse.
   */
  void crossEntropyBackward(View dlogits, View probs, View lse, View logits, int[] labels, int rows, int classes,
      float scale);

  /**
   * Decoupled AdamW (Composer): p ← p·(1 − decay) then Adam with bias correction: p ← p − stepSize·m/(√v/√(1−β2ᵗ) + ε),
   * stepSize = lr/(1−β1ᵗ).
   */
  void adamw(View params, View grads, View m, View v, long n, float lr, float beta1, float beta2, float eps,
      float decay, int step);

  /**
   * Σ x[i]² over n floats of a float32 buffer (parameters, gradients, optimizer state), accumulated in double in an
   * order that depends on n alone, so that every call on the same values gives the same bits. A NaN or an infinity
   * among the values gives a sum that is not finite: how training checks its gradient norm and its weights.
   */
  double sumOfSquares(View x, long n);

  @Override
  void close();
}
