export {
  DPOP_ALGORITHMS,
  DpopProofs,
  DpopRefusal,
  dpopChallenge,
  requestUrl,
  senderRefusal,
  tokenBinding,
  type PresentedBinding,
  type ProofChecker,
  type ProofRequest,
  type RedisGuard,
} from './dpop.ts';
