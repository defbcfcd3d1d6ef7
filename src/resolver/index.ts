/**
 * `boocode-router/resolver`: the providers schema, composite ids and the resolver, for the Worker and for Node
 * (the app's server, BooCoder). No Workers API in here or in anything it imports.
 */
export {
  CAPABILITIES,
  DEFAULT_TIMEOUTS,
  ModelConfigSchema,
  ProviderAuthSchema,
  ProviderSchema,
  ProvidersConfigError,
  ProvidersConfigSchema,
  TimeoutsSchema,
  isModelId,
  modelNameSchema,
  parseProvidersConfig,
  providersJsonSchema,
} from "../config/schema.js";
export type { Capability, ModelConfig, Provider, ProvidersConfig, ProvidersConfigInput } from "../config/schema.js";
export { ALIAS_POLICIES, aliasMembers } from "../config/aliases.js";
export type { AliasMembers, AliasPolicy, AliasTarget } from "../config/aliases.js";
export { compositeId, splitModelId } from "./ids.js";
export type { ModelIdParts } from "./ids.js";
export { listModels, providersToProbe, resolveModel } from "./resolve.js";
export type { DiscoveredModel, DiscoveredModels, HostReport, ListedModel, ModelRoute, Resolution } from "./resolve.js";
export { orderForSession } from "./affinity.js";
