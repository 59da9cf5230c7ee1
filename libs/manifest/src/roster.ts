/** One entry of a site roster (`POST /peers/register` answers the site's other live peers). */
export interface RosterPeer {
  /** libp2p peer id (base58). */
  peerId: string;
  /** Its multiaddrs. */
  addrs: string[];
  /** Its HTTP base URL for devices, when it gave one. */
  httpUrl?: string;
  /** When it last registered (ISO 8601). */
  lastSeen: string;
}

/** What an agent sends to `POST /peers/register`. */
export interface PeerRegistration {
  /** Site id shared by the agents of one site. */
  site: string;
  /** libp2p peer id (base58). */
  peerId: string;
  /** Its multiaddrs. */
  addrs: string[];
  /** Its HTTP base URL for devices. */
  httpUrl?: string;
  /** With DEVICE_AUTH=token: the registered device whose token is sent as `Authorization: Bearer`. */
  deviceId?: string;
}

/** The answer of `POST /peers/register`. */
export interface RosterResponse {
  /** The site's other live peers, most recently seen first. */
  peers: RosterPeer[];
  /** An entry expires this long after its last registration; register again every ttlSeconds / 3. */
  ttlSeconds: number;
}
