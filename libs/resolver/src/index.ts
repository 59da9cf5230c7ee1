export * from './version';
export * from './catalog';
export * from './device-request';
export * from './decision';
export * from './package-details';
export * from './text-rules';
