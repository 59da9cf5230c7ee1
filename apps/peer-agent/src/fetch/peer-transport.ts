import type { ChunkReply, ChunkRequest } from '../p2p/chunk-protocol';

/**
 * How the fetcher talks to other agents. The libp2p adapter implements it; unit tests use fakes.
 * Errors mean "unreachable or timed out", except `ProtocolViolationError`, which means misbehaviour.
 */
export interface PeerTransport {
  requestChunk(peerId: string, request: ChunkRequest, expectedLength: number, timeoutMs: number): Promise<ChunkReply>;
  /** The peer's signed manifest as JSON (unverified), or `undefined`. */
  requestManifest(peerId: string, sha256: string, timeoutMs: number): Promise<unknown>;
  /** Drops connections to a banned peer. */
  disconnect(peerId: string): void;
}
