/**
 * Composite model ids: `provider/model`, split at the FIRST `/` because the model part
 * may itself contain `/` or `:` (llama-server router mode names like `org/repo-GGUF:Q4_K_M`).
 */

export interface ModelIdParts {
  provider: string;
  model: string;
}

/** Splits `provider/model` at the first `/`; `undefined` when there is no `/` or either side is empty. */
export function splitModelId(id: string): ModelIdParts | undefined {
  const slash = id.indexOf("/");
  if (slash <= 0 || slash === id.length - 1) return undefined;
  return { provider: id.slice(0, slash), model: id.slice(slash + 1) };
}

export function compositeId(provider: string, model: string): string {
  return `${provider}/${model}`;
}
