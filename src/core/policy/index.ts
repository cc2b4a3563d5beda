// The policy engine's public surface (semantics: docs/policy.md). Pure: no I/O.
export type { Direction, L4Protocol, LabelSelector, NormalizeOptions, Peer, Policy, PolicyKind, PortMatch, Rule, RuleProtocol } from './model.js';
export { DEFAULT_SEGMENT_LABEL, NAMESPACE_NAME_LABEL } from './model.js';
export { loadPolicies, normalizeAll, normalizePolicy, parseDocuments, parsePolicies, withPath } from './normalize.js';
export type { Block, Cluster, Endpoint, External, Host, Namespace, Pod, PodPort } from './cluster.js';
export { endpointByKey, parseCluster } from './cluster.js';
export type { DirectionExplanation, Explanation, Probe, ProbeProtocol, ProbeResult, RuleMatch } from './evaluate.js';
export { defaultProbes, Evaluator, explain, parsePortProto, parseProbe, simulate } from './evaluate.js';
export type { CompiledChain, CompiledHost, CompiledSet, CompileOptions, SetType } from './compile.js';
export { compileHost, DEFAULT_MARK_BIT, policyChainName, PolicyCompiler, TOP_CHAINS } from './compile.js';
export type { AddrMatch, Hook, IrChain, IrHost, IrMap, IrMatch, IrRule, IrSet, L4Match, Verdict } from './ir.js';
export { compileHostIr } from './compile.js';
export { renderIptables } from './render-iptables.js';
