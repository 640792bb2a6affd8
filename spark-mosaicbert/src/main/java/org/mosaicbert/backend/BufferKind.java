package org.mosaicbert.backend;

/**
 * What a {@link Buffer} holds. It is all a backend is told about a buffer, and each backend chooses the buffer's
 * storage from it: the CPU keeps every kind in float32; the CUDA backend keeps parameters in float32 with a bf16
 * compute copy, gradients and optimizer state in float32, and activations in bf16.
 */
public enum BufferKind {
  /** The flat parameter table ({@code ParameterLayout}): the master weights that kernels read as weights. */
  PARAMETERS,
  /** Parameter gradients in the parameters' layout: accumulated over micro-batches, then allreduced. */
  GRADIENTS,
  /** Optimizer state in the parameters' layout (AdamW's moments). */
  OPTIMIZER_STATE,
  /** Forward activations, their gradients, and the statistics the forward pass keeps for the backward pass. */
  ACTIVATIONS
}
