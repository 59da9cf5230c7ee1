export * from './version';
export * from './catalog';
// The folder's index spelled out: a device-request.js left in an older dist/ would otherwise win over it.
export * from './device-request/index';
export * from './decision';
export * from './package-details';
export * from './text-rules';
