export {
  DPOP_ALGORITHMS,
  DpopProofs,
  DpopRefusal,
  dpopChallenge,
  requestUrl,
  senderRefusal,
  tokenBinding,
  type ProofChecker,
  type ProofRequest,
} from './dpop.ts';
