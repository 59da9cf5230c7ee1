export * from './manifest';
export * from './chunks';
export * from './canonical';
export * from './keys';
export * from './verify';
export * from './roster';
