// The `Object` the vendored web-streams-polyfill sees (streams.rs): the real one, except that
// `defineProperty` and `defineProperties` read only a descriptor's own fields. The polyfill
// loads after plugin code has run and writes its descriptors as object literals, which inherit
// from Object.prototype: a `get` the plugin put there made every definition throw, and the
// stream globals could never load. `({}).constructor` is the realm's `Object` (the module hides
// `globalThis`, and naming `Object` here would name this binding).
const Object = ((RealObject) => {
  const define = RealObject.defineProperty;
  const hasOwn = RealObject.hasOwn;
  const ownKeys = Reflect.ownKeys;
  const fields = ["value", "writable", "get", "set", "enumerable", "configurable"];
  const own = (descriptor) => {
    const copy = { __proto__: null };
    for (let i = 0; i < fields.length; i++) {
      if (hasOwn(descriptor, fields[i])) copy[fields[i]] = descriptor[fields[i]];
    }
    return copy;
  };
  return {
    __proto__: RealObject,
    defineProperty: (target, key, descriptor) => define(target, key, own(descriptor)),
    defineProperties: (target, descriptors) => {
      const keys = ownKeys(descriptors);
      for (let i = 0; i < keys.length; i++) define(target, keys[i], own(descriptors[keys[i]]));
      return target;
    },
  };
})(({}).constructor);
