// `Intl` (ECMA-402) over intl.rs's native helpers: the option parsing and the objects' state
// are here, the formatting is ICU4X's. Loaded on first use of `Intl` or of a built-in's locale
// method (stub.js). Returns `{ Intl, locale }`, `locale` holding those methods' bodies.
//
// Loaded after plugin code ran: everything used later is captured now, and nothing reads a
// property the plugin could have put on Object.prototype (descriptors and records have no
// prototype).
(function (natives) {
  "use strict";
  const ObjectCtor = Object;
  const create = Object.create;
  const getPrototypeOf = Object.getPrototypeOf;
  const keys = Object.keys;
  const defineProperty = Object.defineProperty;
  const WeakMapCtor = WeakMap;
  const weakGet = WeakMap.prototype.get;
  const weakSet = WeakMap.prototype.set;
  const dateGetTime = Date.prototype.getTime;
  const dateNow = Date.now;
  const numberValueOf = Number.prototype.valueOf;
  const bigintValueOf = BigInt.prototype.valueOf;
  const StringCtor = String;
  const NumberCtor = Number;
  const SymbolIterator = Symbol.iterator;
  const SymbolToStringTag = Symbol.toStringTag;
  const call = Function.prototype.call.bind(Function.prototype.call);

  const DEFAULT_LOCALE = "en-US";
  // The sandbox has no access to the host's settings: the default time zone is UTC, as
  // `Date`'s local time is in a sandbox whose host runs in UTC.
  const DEFAULT_TIME_ZONE = "UTC";

  const method = (target, name, fn) => {
    defineProperty(target, name, { __proto__: null, value: fn, writable: true, enumerable: false, configurable: true });
  };
  // Methods and getters as object-literal methods give them the standard `name` ("get
  // format" for a getter), `length` and no `prototype`; copied non-enumerable.
  const accessors = (target, source) => {
    for (const key of Reflect.ownKeys(source)) {
      // Without a prototype: plugin code may have put `get` or `value` on Object.prototype.
      const descriptor = { __proto__: null, ...Object.getOwnPropertyDescriptor(source, key) };
      descriptor.enumerable = false;
      defineProperty(target, key, descriptor);
    }
  };
  const tag = (target, value) => {
    defineProperty(target, SymbolToStringTag, { __proto__: null, value, writable: false, enumerable: false, configurable: true });
  };

  // Internal slots, by object.
  function Slots(brand) {
    const map = new WeakMapCtor();
    return {
      get(object, what) {
        const slots = object !== null && (typeof object === "object" || typeof object === "function") ? call(weakGet, map, object) : undefined;
        if (slots === undefined) throw new TypeError(`${what} called on an object that is not an ${brand}`);
        return slots;
      },
      set(object, slots) {
        call(weakSet, map, object, slots);
      },
    };
  }

  // ---- locales ----

  function canonicalizeLocaleList(locales) {
    if (locales === undefined) return [];
    const seen = [];
    let items;
    if (typeof locales === "string" || localeSlots.has(locales)) {
      items = [locales];
    } else {
      items = ObjectCtor(locales);
    }
    const length = toLength(items.length);
    for (let k = 0; k < length; k++) {
      if (!(k in items)) continue;
      const item = items[k];
      if (typeof item !== "string" && (item === null || (typeof item !== "object" && typeof item !== "function"))) {
        throw new TypeError("a locale must be a string or an object");
      }
      let tagText;
      if (localeSlots.has(item)) {
        tagText = localeSlots.get(item, "").tag;
      } else {
        tagText = StringCtor(item);
      }
      const canonical = natives.canonicalize(tagText);
      if (canonical === undefined || canonical === null) {
        throw new RangeError(`incorrect locale information provided: \`${tagText}\``);
      }
      if (!seen.includes(canonical)) seen.push(canonical);
    }
    return seen;
  }

  function toLength(value) {
    const n = NumberCtor(value);
    if (!(n > 0)) return 0;
    return Math.min(Math.floor(n), 2 ** 53 - 1);
  }

  // `tag` split into its base (language-script-region-variants) and its `-u-` keywords.
  function splitTag(text) {
    const subtags = text.split("-");
    const base = [];
    const keywords = { __proto__: null };
    const others = [];
    let i = 0;
    for (; i < subtags.length && subtags[i].length !== 1; i++) base.push(subtags[i]);
    while (i < subtags.length) {
      const singleton = subtags[i++];
      if (singleton === "u") {
        // Attributes (3-8 letters before the first key) are skipped.
        while (i < subtags.length && subtags[i].length > 2) i++;
        while (i < subtags.length && subtags[i].length === 2) {
          const key = subtags[i++];
          const values = [];
          while (i < subtags.length && subtags[i].length > 2) values.push(subtags[i++]);
          if (!(key in keywords)) keywords[key] = values.join("-");
        }
      } else {
        const rest = [singleton];
        while (i < subtags.length && (subtags[i].length !== 1 || singleton === "x")) rest.push(subtags[i++]);
        others.push(rest.join("-"));
      }
    }
    return { base: base.join("-"), keywords, others };
  }

  // ECMA-402 LookupMatcher: the first requested locale (or a prefix of it) ICU4X has data for.
  function lookup(requested) {
    for (const locale of requested) {
      const { base, keywords } = splitTag(locale);
      let candidate = base;
      while (candidate !== "") {
        if (natives.hasData(candidate)) return { base: candidate, keywords };
        const cut = candidate.lastIndexOf("-");
        if (cut < 0) break;
        candidate = candidate.slice(0, cut);
        if (candidate.length >= 2 && candidate[candidate.length - 2] === "-") candidate = candidate.slice(0, -2);
      }
    }
    return { base: DEFAULT_LOCALE, keywords: { __proto__: null } };
  }

  const VALID = {
    __proto__: null,
    ca: natives.supportedValues("calendar"),
    nu: natives.supportedValues("numberingSystem"),
    hc: ["h11", "h12", "h23", "h24"],
    kn: ["true", "false", ""],
    kf: ["upper", "lower", "false"],
    co: [],
  };

  // ECMA-402 ResolveLocale: `keys` the relevant extension keys, `overrides` their values from
  // the options (undefined if absent). Returns `{ locale, values, data }`: the resolved tag,
  // each key's value, and the tag given to ICU4X (with every keyword chosen).
  function resolveLocale(locales, keys, overrides) {
    const requested = canonicalizeLocaleList(locales);
    const found = lookup(requested);
    const values = { __proto__: null };
    const kept = [];
    for (const key of keys) {
      let value;
      let inTag = false;
      if (key in found.keywords) {
        const candidate = found.keywords[key];
        if (VALID[key].includes(candidate)) {
          value = candidate === "" ? "true" : candidate;
          inTag = true;
        }
      }
      const override = overrides[key];
      if (override !== undefined && VALID[key].includes(override)) {
        if (override !== value) inTag = false;
        value = override;
      }
      values[key] = value;
      if (inTag) kept.push(value === "true" && key === "kn" ? key : `${key}-${value}`);
    }
    const locale = kept.length === 0 ? found.base : `${found.base}-u-${kept.join("-")}`;
    const dataKeys = [];
    for (const key of keys) {
      if (values[key] !== undefined) dataKeys.push(`${key}-${values[key]}`);
    }
    const data = dataKeys.length === 0 ? found.base : `${found.base}-u-${dataKeys.join("-")}`;
    return { locale, values, data, base: found.base };
  }

  function supportedLocalesOf(locales, options) {
    const requested = canonicalizeLocaleList(locales);
    if (options !== undefined) {
      getOption(ObjectCtor(options), "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    }
    const supported = [];
    for (const locale of requested) {
      const { base } = splitTag(locale);
      if (lookup([base]).base !== DEFAULT_LOCALE || base === DEFAULT_LOCALE || base === "en") supported.push(locale);
    }
    return supported;
  }

  // ---- options ----

  function coerceOptions(options) {
    if (options === undefined) return { __proto__: null };
    if (options === null) throw new TypeError("options must be an object, not null");
    return ObjectCtor(options);
  }

  function getOption(options, property, type, values, fallback) {
    let value = options[property];
    if (value === undefined) return fallback;
    if (type === "boolean") {
      value = !!value;
    } else {
      value = StringCtor(value);
    }
    if (values !== undefined && !values.includes(value)) {
      throw new RangeError(`${property} must be one of ${values.map((v) => `"${v}"`).join(", ")}, not "${value}"`);
    }
    return value;
  }

  function getNumberOption(options, property, minimum, maximum, fallback) {
    return defaultNumberOption(options[property], minimum, maximum, fallback, property);
  }

  function defaultNumberOption(value, minimum, maximum, fallback, property) {
    if (value === undefined) return fallback;
    const n = NumberCtor(value);
    if (n !== n || n < minimum || n > maximum) throw new RangeError(`${property} value is out of range`);
    return Math.floor(n);
  }

  // A numbering system or calendar type: 3-8 alphanumerics, `-` separated.
  function checkType(value, property) {
    if (value !== undefined && !/^[a-zA-Z0-9]{3,8}(-[a-zA-Z0-9]{3,8})*$/.test(value)) {
      throw new RangeError(`invalid ${property}: "${value}"`);
    }
    return value === undefined ? undefined : value.toLowerCase();
  }

  // ---- numbers as decimal digits ----

  // The exact decimal digits ICU4X parses, for a finite Number: its shortest round-trip form
  // without an exponent.
  function plainDigits(n) {
    const text = StringCtor(n);
    const e = text.indexOf("e");
    if (e < 0) return Object.is(n, -0) ? "-0" : text;
    let mantissa = text.slice(0, e);
    const exponent = NumberCtor(text.slice(e + 1));
    let sign = "";
    if (mantissa[0] === "-") {
      sign = "-";
      mantissa = mantissa.slice(1);
    }
    const point = mantissa.indexOf(".");
    const digits = point < 0 ? mantissa : mantissa.slice(0, point) + mantissa.slice(point + 1);
    const intLength = (point < 0 ? mantissa.length : point) + exponent;
    if (intLength <= 0) return `${sign}0.${"0".repeat(-intLength)}${digits}`;
    if (intLength >= digits.length) return sign + digits + "0".repeat(intLength - digits.length);
    return `${sign}${digits.slice(0, intLength)}.${digits.slice(intLength)}`;
  }

  // ---- DateTimeFormat ----

  const dtfSlots = Slots("Intl.DateTimeFormat");
  const COMPONENTS = [
    ["weekday", ["narrow", "short", "long"]],
    ["era", ["narrow", "short", "long"]],
    ["year", ["2-digit", "numeric"]],
    ["month", ["2-digit", "numeric", "narrow", "short", "long"]],
    ["day", ["2-digit", "numeric"]],
    ["dayPeriod", ["narrow", "short", "long"]],
    ["hour", ["2-digit", "numeric"]],
    ["minute", ["2-digit", "numeric"]],
    ["second", ["2-digit", "numeric"]],
    ["fractionalSecondDigits", undefined],
    ["timeZoneName", ["short", "long", "shortOffset", "longOffset", "shortGeneric", "longGeneric"]],
  ];
  const STYLES = ["full", "long", "medium", "short"];

  function DateTimeFormat(locales = undefined, options = undefined) {
    if (new.target === undefined) return new DateTimeFormat(locales, options);
    dtfSlots.set(this, createDateTimeFormat(locales, options, "any", "date"));
  }

  // ECMA-402 CreateDateTimeFormat; `required` and `defaults` as its ToDateTimeOptions.
  function createDateTimeFormat(locales, options, required, defaults) {
    options = coerceOptions(options);
    getOption(options, "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    const calendar = checkType(getOption(options, "calendar", "string"), "calendar");
    const numberingSystem = checkType(getOption(options, "numberingSystem", "string"), "numberingSystem");
    const hour12 = getOption(options, "hour12", "boolean");
    let hourCycle = getOption(options, "hourCycle", "string", ["h11", "h12", "h23", "h24"]);
    if (hour12 !== undefined) hourCycle = null;
    const resolved = resolveLocale(locales, ["ca", "hc", "nu"], { __proto__: null, ca: calendar, nu: numberingSystem, hc: hourCycle ?? undefined });
    let timeZone = options.timeZone;
    if (timeZone === undefined) {
      timeZone = DEFAULT_TIME_ZONE;
    } else {
      const name = StringCtor(timeZone);
      timeZone = natives.timeZone(name);
      if (timeZone === undefined || timeZone === null) throw new RangeError(`invalid time zone: "${name}"`);
    }
    const fields = { __proto__: null };
    let anyComponent = false;
    for (const [name, values] of COMPONENTS) {
      const value = name === "fractionalSecondDigits"
        ? getNumberOption(options, name, 1, 3, undefined)
        : getOption(options, name, "string", values);
      if (value !== undefined) {
        fields[name] = value;
        anyComponent = true;
      }
    }
    getOption(options, "formatMatcher", "string", ["basic", "best fit"], "best fit");
    const dateStyle = getOption(options, "dateStyle", "string", STYLES);
    const timeStyle = getOption(options, "timeStyle", "string", STYLES);
    if (dateStyle !== undefined || timeStyle !== undefined) {
      if (anyComponent) throw new TypeError("dateStyle and timeStyle cannot be used with date or time component options");
      if (required === "date" && timeStyle !== undefined && dateStyle === undefined) throw new TypeError("this method formats a date: timeStyle alone is not allowed");
      if (required === "time" && dateStyle !== undefined && timeStyle === undefined) throw new TypeError("this method formats a time: dateStyle alone is not allowed");
      if (dateStyle !== undefined) fields.dateStyle = dateStyle;
      if (timeStyle !== undefined) fields.timeStyle = timeStyle;
    } else {
      let needDefaults = true;
      if (required === "date" || required === "any") {
        for (const name of ["weekday", "year", "month", "day"]) if (fields[name] !== undefined) needDefaults = false;
      }
      if (required === "time" || required === "any") {
        for (const name of ["dayPeriod", "hour", "minute", "second", "fractionalSecondDigits"]) if (fields[name] !== undefined) needDefaults = false;
      }
      if (needDefaults && (defaults === "date" || defaults === "all")) {
        fields.year = fields.month = fields.day = "numeric";
      }
      if (needDefaults && (defaults === "time" || defaults === "all")) {
        fields.hour = fields.minute = fields.second = "numeric";
      }
    }
    // The locale's own calendar, numbering system and hour cycle.
    const [localeCalendar, localeNumbering, localeHourCycle] = natives.dateTimeResolve(resolved.data);
    const hasHour = fields.hour !== undefined || timeStyle !== undefined;
    let hc;
    if (hasHour) {
      if (hour12 !== undefined) {
        // ECMA-402: the locale's 12-hour or 24-hour cycle (h12 and h23 for every locale ICU4X's
        // data describes).
        hc = hour12 ? "h12" : "h23";
      } else {
        hc = resolved.values.hc ?? localeHourCycle;
      }
    }
    const dataKeys = [];
    if (resolved.values.ca !== undefined) dataKeys.push(`ca-${resolved.values.ca}`);
    if (hc !== undefined) dataKeys.push(`hc-${hc}`);
    if (resolved.values.nu !== undefined) dataKeys.push(`nu-${resolved.values.nu}`);
    const data = dataKeys.length === 0 ? resolved.base : `${resolved.base}-u-${dataKeys.join("-")}`;
    return {
      locale: resolved.locale,
      data,
      calendar: resolved.values.ca ?? localeCalendar,
      numberingSystem: resolved.values.nu ?? localeNumbering,
      timeZone,
      hourCycle: hc,
      fields,
      boundFormat: undefined,
    };
  }

  function timeValue(date) {
    let x = date === undefined ? dateNow() : NumberCtor(date);
    if (!(Math.abs(x) <= 8.64e15)) throw new RangeError("invalid time value");
    x = Math.trunc(x) + 0;
    return x;
  }

  function dateTimeParts(slots, date) {
    return natives.dateTimeParts(slots.data, slots.fields, slots.timeZone, timeValue(date));
  }

  function joinParts(flat) {
    let text = "";
    for (let i = 1; i < flat.length; i += 2) text += flat[i];
    return text;
  }

  // V8 (Node.js, Chrome) writes U+0020 where CLDR 42+ has U+202F (before "PM") in a formatted
  // date's string, because code parsing `toLocaleString` output broke on it
  // (crbug.com/1414292); `formatToParts` keeps U+202F. So do we.
  function asciiSpaces(text) {
    return text.indexOf("\u202f") < 0 ? text : text.split("\u202f").join(" ");
  }

  function partsObjects(flat, extra) {
    const parts = [];
    for (let i = 0; i < flat.length; i += 2) {
      const part = { type: flat[i], value: flat[i + 1] };
      if (extra !== undefined) extra(part);
      parts.push(part);
    }
    return parts;
  }

  const dtfProto = DateTimeFormat.prototype;
  accessors(dtfProto, { get format() {
    const slots = dtfSlots.get(this, "Intl.DateTimeFormat.prototype.format");
    if (slots.boundFormat === undefined) {
      slots.boundFormat = (date) => asciiSpaces(joinParts(dateTimeParts(slots, date)));
    }
    return slots.boundFormat;
  } });
  accessors(dtfProto, { formatToParts(date) {
    const slots = dtfSlots.get(this, "Intl.DateTimeFormat.prototype.formatToParts");
    return partsObjects(dateTimeParts(slots, date));
  } });
  // A range is its two ends joined by an en dash (ICU4X has no range patterns yet); one date
  // when both format the same.
  accessors(dtfProto, { formatRange(startDate, endDate) {
    const slots = dtfSlots.get(this, "Intl.DateTimeFormat.prototype.formatRange");
    if (startDate === undefined || endDate === undefined) throw new TypeError("formatRange needs two dates");
    const start = asciiSpaces(joinParts(dateTimeParts(slots, startDate)));
    const end = asciiSpaces(joinParts(dateTimeParts(slots, endDate)));
    return start === end ? start : `${start} – ${end}`;
  } });
  accessors(dtfProto, { formatRangeToParts(startDate, endDate) {
    const slots = dtfSlots.get(this, "Intl.DateTimeFormat.prototype.formatRangeToParts");
    if (startDate === undefined || endDate === undefined) throw new TypeError("formatRangeToParts needs two dates");
    const start = dateTimeParts(slots, startDate);
    const end = dateTimeParts(slots, endDate);
    if (joinParts(start) === joinParts(end)) return partsObjects(start, (p) => (p.source = "shared"));
    return [
      ...partsObjects(start, (p) => (p.source = "startRange")),
      { type: "literal", value: " – ", source: "shared" },
      ...partsObjects(end, (p) => (p.source = "endRange")),
    ];
  } });
  accessors(dtfProto, { resolvedOptions() {
    const slots = dtfSlots.get(this, "Intl.DateTimeFormat.prototype.resolvedOptions");
    const out = {
      locale: slots.locale,
      calendar: slots.calendar,
      numberingSystem: slots.numberingSystem,
      timeZone: slots.timeZone,
    };
    if (slots.hourCycle !== undefined) {
      out.hourCycle = slots.hourCycle;
      out.hour12 = slots.hourCycle === "h11" || slots.hourCycle === "h12";
    }
    for (const [name] of COMPONENTS) {
      if (slots.fields[name] !== undefined) out[name] = slots.fields[name];
    }
    if (slots.fields.dateStyle !== undefined) out.dateStyle = slots.fields.dateStyle;
    if (slots.fields.timeStyle !== undefined) out.timeStyle = slots.fields.timeStyle;
    return out;
  } });
  tag(dtfProto, "Intl.DateTimeFormat");

  // ---- NumberFormat ----

  const nfSlots = Slots("Intl.NumberFormat");
  // ISO 4217 minor units where they are not 2 (ECMA-402 CurrencyDigits).
  const CURRENCY_DIGITS = {
    __proto__: null,
    BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0,
    KRW: 0, KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0,
    VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  };

  function NumberFormat(locales = undefined, options = undefined) {
    if (new.target === undefined) return new NumberFormat(locales, options);
    nfSlots.set(this, createNumberFormat(locales, options));
  }

  const ROUNDING_INCREMENTS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000];

  // ECMA-402 SetNumberFormatDigitOptions. `roundingType` is "significantDigits",
  // "fractionDigits", "morePrecision" or "lessPrecision"; intl.rs rounds as it says.
  function digitOptions(options, minFractionDefault, maxFractionDefault, notation) {
    const out = { __proto__: null };
    out.minimumIntegerDigits = getNumberOption(options, "minimumIntegerDigits", 1, 21, 1);
    const minFrac = options.minimumFractionDigits;
    const maxFrac = options.maximumFractionDigits;
    const minSig = options.minimumSignificantDigits;
    const maxSig = options.maximumSignificantDigits;
    const increment = getNumberOption(options, "roundingIncrement", 1, 5000, 1);
    if (!ROUNDING_INCREMENTS.includes(increment)) {
      throw new RangeError(`roundingIncrement must be one of ${ROUNDING_INCREMENTS.join(", ")}, not ${increment}`);
    }
    out.roundingMode = getOption(options, "roundingMode", "string", ["ceil", "floor", "expand", "trunc", "halfCeil", "halfFloor", "halfExpand", "halfTrunc", "halfEven"], "halfExpand");
    const priority = getOption(options, "roundingPriority", "string", ["auto", "morePrecision", "lessPrecision"], "auto");
    out.trailingZeroDisplay = getOption(options, "trailingZeroDisplay", "string", ["auto", "stripIfInteger"], "auto");
    if (increment !== 1) maxFractionDefault = minFractionDefault;
    out.roundingIncrement = increment;
    const hasSd = minSig !== undefined || maxSig !== undefined;
    const hasFd = minFrac !== undefined || maxFrac !== undefined;
    let needSd = true;
    let needFd = true;
    if (priority === "auto") {
      needSd = hasSd;
      if (needSd || (!hasFd && notation === "compact")) needFd = false;
    }
    if (needSd) {
      if (hasSd) {
        const min = defaultNumberOption(minSig, 1, 21, 1, "minimumSignificantDigits");
        out.minimumSignificantDigits = min;
        out.maximumSignificantDigits = defaultNumberOption(maxSig, min, 21, 21, "maximumSignificantDigits");
      } else {
        out.minimumSignificantDigits = 1;
        out.maximumSignificantDigits = 21;
      }
    }
    if (needFd) {
      if (hasFd) {
        let min = defaultNumberOption(minFrac, 0, 100, undefined, "minimumFractionDigits");
        let max = defaultNumberOption(maxFrac, 0, 100, undefined, "maximumFractionDigits");
        if (min === undefined) {
          min = Math.min(minFractionDefault, max);
        } else if (max === undefined) {
          max = Math.max(maxFractionDefault, min);
        } else if (min > max) {
          throw new RangeError("minimumFractionDigits is greater than maximumFractionDigits");
        }
        out.minimumFractionDigits = min;
        out.maximumFractionDigits = max;
      } else {
        out.minimumFractionDigits = minFractionDefault;
        out.maximumFractionDigits = maxFractionDefault;
      }
    }
    if (!needSd && !needFd) {
      // Compact notation's own rounding: two significant digits below 100, none after the point.
      out.minimumFractionDigits = 0;
      out.maximumFractionDigits = 0;
      out.minimumSignificantDigits = 1;
      out.maximumSignificantDigits = 2;
      out.roundingType = "morePrecision";
      out.roundingPriority = "morePrecision";
    } else if (priority === "auto") {
      out.roundingType = hasSd ? "significantDigits" : "fractionDigits";
      out.roundingPriority = "auto";
    } else {
      out.roundingType = priority;
      out.roundingPriority = priority;
    }
    if (increment !== 1) {
      if (out.roundingType !== "fractionDigits") {
        throw new TypeError("roundingIncrement needs fraction digits rounding (no significant digits and roundingPriority \"auto\")");
      }
      if (out.maximumFractionDigits !== out.minimumFractionDigits) {
        throw new RangeError("roundingIncrement needs minimumFractionDigits equal to maximumFractionDigits");
      }
    }
    return out;
  }

  // What resolvedOptions() reports of `digits` (ECMA-402's order of the properties).
  function resolvedDigits(out, digits) {
    out.minimumIntegerDigits = digits.minimumIntegerDigits;
    if (digits.minimumFractionDigits !== undefined) {
      out.minimumFractionDigits = digits.minimumFractionDigits;
      out.maximumFractionDigits = digits.maximumFractionDigits;
    }
    if (digits.minimumSignificantDigits !== undefined) {
      out.minimumSignificantDigits = digits.minimumSignificantDigits;
      out.maximumSignificantDigits = digits.maximumSignificantDigits;
    }
  }

  function resolvedRounding(out, digits) {
    out.roundingIncrement = digits.roundingIncrement;
    out.roundingMode = digits.roundingMode;
    out.roundingPriority = digits.roundingPriority;
    out.trailingZeroDisplay = digits.trailingZeroDisplay;
  }

  function createNumberFormat(locales, options) {
    options = coerceOptions(options);
    getOption(options, "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    const numberingSystem = checkType(getOption(options, "numberingSystem", "string"), "numberingSystem");
    const resolved = resolveLocale(locales, ["nu"], { __proto__: null, nu: numberingSystem });
    const style = getOption(options, "style", "string", ["decimal", "percent", "currency", "unit"], "decimal");
    let currency = getOption(options, "currency", "string");
    if (currency !== undefined) {
      if (!/^[A-Za-z]{3}$/.test(currency)) throw new RangeError(`invalid currency code: "${currency}"`);
      currency = currency.toUpperCase();
    }
    const currencyDisplay = getOption(options, "currencyDisplay", "string", ["code", "symbol", "narrowSymbol", "name"], "symbol");
    const currencySign = getOption(options, "currencySign", "string", ["standard", "accounting"], "standard");
    const unit = getOption(options, "unit", "string");
    if (unit !== undefined && !/^[a-z]+(-per-[a-z]+)?$/.test(unit)) throw new RangeError(`invalid unit: "${unit}"`);
    const unitDisplay = getOption(options, "unitDisplay", "string", ["short", "narrow", "long"], "short");
    if (style === "currency" && currency === undefined) throw new TypeError("the currency style needs a currency code");
    if (style === "unit") {
      if (unit === undefined) throw new TypeError("the unit style needs a unit");
      if (!natives.supportedValues("unit").includes(unit)) {
        throw new RangeError(`the unit "${unit}" is not supported in this sandbox (ICU4X formats ${natives.supportedValues("unit").join(", ")})`);
      }
    }
    const notation = getOption(options, "notation", "string", ["standard", "scientific", "engineering", "compact"], "standard");
    let minFrac = 0;
    let maxFrac = style === "percent" ? 0 : 3;
    if (style === "currency" && notation === "standard") {
      minFrac = maxFrac = CURRENCY_DIGITS[currency] ?? 2;
    }
    const digits = digitOptions(options, minFrac, maxFrac, notation);
    const compactDisplay = getOption(options, "compactDisplay", "string", ["short", "long"], "short");
    let useGrouping = options.useGrouping;
    const defaultGrouping = notation === "compact" ? "min2" : "auto";
    if (useGrouping === undefined) {
      useGrouping = defaultGrouping;
    } else if (useGrouping === true) {
      useGrouping = "always";
    } else if (useGrouping === false || useGrouping === null || useGrouping === "" || useGrouping === 0) {
      useGrouping = false;
    } else {
      useGrouping = StringCtor(useGrouping);
      if (useGrouping === "true" || useGrouping === "false") {
        useGrouping = defaultGrouping;
      } else if (!["min2", "auto", "always"].includes(useGrouping)) {
        throw new RangeError(`useGrouping must be one of "min2", "auto", "always", true or false, not "${useGrouping}"`);
      }
    }
    const signDisplay = getOption(options, "signDisplay", "string", ["auto", "never", "always", "exceptZero", "negative"], "auto");
    const [, localeNumbering] = natives.dateTimeResolve(resolved.data);
    const native = {
      __proto__: null,
      style,
      currency,
      currencyDisplay,
      unit,
      unitDisplay,
      useGrouping: useGrouping === false ? "false" : useGrouping,
      signDisplay,
      notation,
      compactDisplay,
      ...digits,
    };
    return {
      locale: resolved.locale,
      data: resolved.data,
      numberingSystem: resolved.values.nu ?? localeNumbering,
      style,
      currency,
      currencyDisplay,
      currencySign,
      unit,
      unitDisplay,
      useGrouping,
      notation,
      compactDisplay,
      signDisplay,
      digits,
      native,
      boundFormat: undefined,
    };
  }

  // `[type, value...]` for a Number, BigInt or numeric string.
  function numberParts(slots, x) {
    let digits;
    if (typeof x === "bigint") {
      digits = StringCtor(x);
    } else {
      const n = NumberCtor(x);
      if (n !== n) return signed(slots, ["nan", "NaN"], false);
      if (n === Infinity || n === -Infinity) return signed(slots, ["infinity", "∞"], n < 0);
      digits = plainDigits(n);
    }
    return natives.numberParts(slots.data, slots.native, digits);
  }

  function signed(slots, parts, negative) {
    const display = slots.signDisplay;
    if (negative && display !== "never") return ["minusSign", "-", ...parts];
    if (!negative && (display === "always" || (display === "exceptZero" && parts[0] === "infinity"))) return ["plusSign", "+", ...parts];
    return parts;
  }

  const nfProto = NumberFormat.prototype;
  accessors(nfProto, { get format() {
    const slots = nfSlots.get(this, "Intl.NumberFormat.prototype.format");
    if (slots.boundFormat === undefined) {
      slots.boundFormat = (value) => joinParts(numberParts(slots, value));
    }
    return slots.boundFormat;
  } });
  accessors(nfProto, { formatToParts(value) {
    const slots = nfSlots.get(this, "Intl.NumberFormat.prototype.formatToParts");
    return partsObjects(numberParts(slots, value));
  } });
  accessors(nfProto, { formatRange(start, end) {
    const slots = nfSlots.get(this, "Intl.NumberFormat.prototype.formatRange");
    if (start === undefined || end === undefined) throw new TypeError("formatRange needs two numbers");
    const a = joinParts(numberParts(slots, start));
    const b = joinParts(numberParts(slots, end));
    return a === b ? `~${a}` : `${a}–${b}`;
  } });
  accessors(nfProto, { formatRangeToParts(start, end) {
    const slots = nfSlots.get(this, "Intl.NumberFormat.prototype.formatRangeToParts");
    if (start === undefined || end === undefined) throw new TypeError("formatRangeToParts needs two numbers");
    const a = numberParts(slots, start);
    const b = numberParts(slots, end);
    if (joinParts(a) === joinParts(b)) {
      return [{ type: "approximatelySign", value: "~", source: "shared" }, ...partsObjects(a, (p) => (p.source = "shared"))];
    }
    return [
      ...partsObjects(a, (p) => (p.source = "startRange")),
      { type: "literal", value: "–", source: "shared" },
      ...partsObjects(b, (p) => (p.source = "endRange")),
    ];
  } });
  accessors(nfProto, { resolvedOptions() {
    const slots = nfSlots.get(this, "Intl.NumberFormat.prototype.resolvedOptions");
    const out = { locale: slots.locale, numberingSystem: slots.numberingSystem, style: slots.style };
    if (slots.style === "currency") {
      out.currency = slots.currency;
      out.currencyDisplay = slots.currencyDisplay;
      out.currencySign = slots.currencySign;
    }
    if (slots.style === "unit") {
      out.unit = slots.unit;
      out.unitDisplay = slots.unitDisplay;
    }
    resolvedDigits(out, slots.digits);
    out.useGrouping = slots.useGrouping;
    out.notation = slots.notation;
    if (slots.notation === "compact") out.compactDisplay = slots.compactDisplay;
    out.signDisplay = slots.signDisplay;
    resolvedRounding(out, slots.digits);
    return out;
  } });
  tag(nfProto, "Intl.NumberFormat");

  // ---- PluralRules ----

  const prSlots = Slots("Intl.PluralRules");
  function PluralRules(locales = undefined, options = undefined) {
    if (new.target === undefined) throw new TypeError("Intl.PluralRules must be called with new");
    options = coerceOptions(options);
    getOption(options, "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    const type = getOption(options, "type", "string", ["cardinal", "ordinal"], "cardinal");
    const digits = digitOptions(options, 0, 3, "standard");
    const resolved = resolveLocale(locales, [], { __proto__: null });
    prSlots.set(this, { locale: resolved.locale, data: resolved.data, type, digits });
  }
  const prProto = PluralRules.prototype;
  accessors(prProto, { select(value) {
    const slots = prSlots.get(this, "Intl.PluralRules.prototype.select");
    const n = NumberCtor(value);
    if (!Number.isFinite(n)) return "other";
    return natives.pluralSelect(slots.data, slots.type === "ordinal", plainDigits(Math.abs(n)), slots.digits);
  } });
  accessors(prProto, { selectRange(start, end) {
    const slots = prSlots.get(this, "Intl.PluralRules.prototype.selectRange");
    if (start === undefined || end === undefined) throw new TypeError("selectRange needs two numbers");
    const n = NumberCtor(end);
    if (!Number.isFinite(n) || NumberCtor(start) !== NumberCtor(start)) throw new RangeError("selectRange needs finite numbers");
    return natives.pluralSelect(slots.data, slots.type === "ordinal", plainDigits(Math.abs(n)), slots.digits);
  } });
  accessors(prProto, { resolvedOptions() {
    const slots = prSlots.get(this, "Intl.PluralRules.prototype.resolvedOptions");
    const out = { locale: slots.locale, type: slots.type };
    resolvedDigits(out, slots.digits);
    out.pluralCategories = natives.pluralCategories(slots.data, slots.type === "ordinal");
    resolvedRounding(out, slots.digits);
    return out;
  } });
  tag(prProto, "Intl.PluralRules");

  // ---- Collator ----

  const collatorSlots = Slots("Intl.Collator");
  function Collator(locales = undefined, options = undefined) {
    if (new.target === undefined) return new Collator(locales, options);
    collatorSlots.set(this, createCollator(locales, options));
  }
  function createCollator(locales, options) {
    options = coerceOptions(options);
    const usage = getOption(options, "usage", "string", ["sort", "search"], "sort");
    getOption(options, "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    const collation = getOption(options, "collation", "string");
    checkType(collation, "collation");
    let numeric = getOption(options, "numeric", "boolean");
    if (numeric !== undefined) numeric = numeric ? "true" : "false";
    const caseFirst = getOption(options, "caseFirst", "string", ["upper", "lower", "false"]);
    const resolved = resolveLocale(locales, ["kf", "kn"], { __proto__: null, kn: numeric, kf: caseFirst });
    const sensitivity = getOption(options, "sensitivity", "string", ["base", "accent", "case", "variant"], "variant");
    const ignorePunctuation = getOption(options, "ignorePunctuation", "boolean", undefined, resolved.base.split("-")[0] === "th");
    return {
      locale: resolved.locale,
      data: resolved.data,
      usage,
      sensitivity,
      ignorePunctuation,
      numeric: resolved.values.kn === "true",
      caseFirst: resolved.values.kf ?? "false",
      boundCompare: undefined,
      native: undefined,
    };
  }
  // The native comparison function, made on first use and kept.
  function nativeCollator(slots) {
    if (slots.native === undefined) slots.native = natives.collator(slots.data, slots.sensitivity, slots.ignorePunctuation);
    return slots.native;
  }
  const collatorProto = Collator.prototype;
  accessors(collatorProto, { get compare() {
    const slots = collatorSlots.get(this, "Intl.Collator.prototype.compare");
    if (slots.boundCompare === undefined) {
      const compare = nativeCollator(slots);
      slots.boundCompare = (x, y) => compare(StringCtor(x), StringCtor(y));
    }
    return slots.boundCompare;
  } });
  accessors(collatorProto, { resolvedOptions() {
    const slots = collatorSlots.get(this, "Intl.Collator.prototype.resolvedOptions");
    return {
      locale: slots.locale,
      usage: slots.usage,
      sensitivity: slots.sensitivity,
      ignorePunctuation: slots.ignorePunctuation,
      collation: "default",
      numeric: slots.numeric,
      caseFirst: slots.caseFirst,
    };
  } });
  tag(collatorProto, "Intl.Collator");

  // ---- RelativeTimeFormat ----

  const rtfSlots = Slots("Intl.RelativeTimeFormat");
  const UNITS = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];
  function RelativeTimeFormat(locales = undefined, options = undefined) {
    if (new.target === undefined) throw new TypeError("Intl.RelativeTimeFormat must be called with new");
    options = coerceOptions(options);
    getOption(options, "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    const numberingSystem = checkType(getOption(options, "numberingSystem", "string"), "numberingSystem");
    const resolved = resolveLocale(locales, ["nu"], { __proto__: null, nu: numberingSystem });
    const style = getOption(options, "style", "string", ["long", "short", "narrow"], "long");
    const numeric = getOption(options, "numeric", "string", ["always", "auto"], "always");
    const [, localeNumbering] = natives.dateTimeResolve(resolved.data);
    rtfSlots.set(this, { locale: resolved.locale, data: resolved.data, style, numeric, numberingSystem: resolved.values.nu ?? localeNumbering });
  }
  function relativeParts(slots, value, unit) {
    let n = NumberCtor(value);
    unit = StringCtor(unit);
    if (unit.endsWith("s") && UNITS.includes(unit.slice(0, -1))) unit = unit.slice(0, -1);
    if (!UNITS.includes(unit)) throw new RangeError(`invalid unit: "${unit}"`);
    if (!Number.isFinite(n)) throw new RangeError("the value must be a finite number");
    return { unit, flat: natives.relativeTimeParts(slots.data, slots.style, slots.numeric, unit, plainDigits(n)) };
  }
  const rtfProto = RelativeTimeFormat.prototype;
  accessors(rtfProto, { format(value, unit) {
    const slots = rtfSlots.get(this, "Intl.RelativeTimeFormat.prototype.format");
    return joinParts(relativeParts(slots, value, unit).flat);
  } });
  accessors(rtfProto, { formatToParts(value, unit) {
    const slots = rtfSlots.get(this, "Intl.RelativeTimeFormat.prototype.formatToParts");
    const parts = relativeParts(slots, value, unit);
    return partsObjects(parts.flat, (p) => {
      if (p.type !== "literal") p.unit = parts.unit;
    });
  } });
  accessors(rtfProto, { resolvedOptions() {
    const slots = rtfSlots.get(this, "Intl.RelativeTimeFormat.prototype.resolvedOptions");
    return { locale: slots.locale, style: slots.style, numeric: slots.numeric, numberingSystem: slots.numberingSystem };
  } });
  tag(rtfProto, "Intl.RelativeTimeFormat");

  // ---- ListFormat ----

  const lfSlots = Slots("Intl.ListFormat");
  function ListFormat(locales = undefined, options = undefined) {
    if (new.target === undefined) throw new TypeError("Intl.ListFormat must be called with new");
    options = coerceOptions(options);
    getOption(options, "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    const resolved = resolveLocale(locales, [], { __proto__: null });
    const type = getOption(options, "type", "string", ["conjunction", "disjunction", "unit"], "conjunction");
    const style = getOption(options, "style", "string", ["long", "short", "narrow"], "long");
    lfSlots.set(this, { locale: resolved.locale, data: resolved.data, type, style });
  }
  function stringList(list) {
    if (list === undefined) return [];
    const out = [];
    for (const item of list) {
      if (typeof item !== "string") throw new TypeError("a list to format may hold only strings");
      out.push(item);
    }
    return out;
  }
  const lfProto = ListFormat.prototype;
  accessors(lfProto, { format(list) {
    const slots = lfSlots.get(this, "Intl.ListFormat.prototype.format");
    return joinParts(natives.listParts(slots.data, slots.type, slots.style, stringList(list)));
  } });
  accessors(lfProto, { formatToParts(list) {
    const slots = lfSlots.get(this, "Intl.ListFormat.prototype.formatToParts");
    return partsObjects(natives.listParts(slots.data, slots.type, slots.style, stringList(list)));
  } });
  accessors(lfProto, { resolvedOptions() {
    const slots = lfSlots.get(this, "Intl.ListFormat.prototype.resolvedOptions");
    return { locale: slots.locale, type: slots.type, style: slots.style };
  } });
  tag(lfProto, "Intl.ListFormat");

  // ---- Segmenter ----

  const segmenterSlots = Slots("Intl.Segmenter");
  const segmentsSlots = Slots("Segments");
  function Segmenter(locales = undefined, options = undefined) {
    if (new.target === undefined) throw new TypeError("Intl.Segmenter must be called with new");
    options = coerceOptions(options);
    getOption(options, "localeMatcher", "string", ["lookup", "best fit"], "best fit");
    const resolved = resolveLocale(locales, [], { __proto__: null });
    const granularity = getOption(options, "granularity", "string", ["grapheme", "word", "sentence"], "grapheme");
    segmenterSlots.set(this, { locale: resolved.locale, granularity });
  }
  const segmenterProto = Segmenter.prototype;
  accessors(segmenterProto, { segment(string) {
    const slots = segmenterSlots.get(this, "Intl.Segmenter.prototype.segment");
    const input = StringCtor(string);
    const segments = create(segmentsProto);
    segmentsSlots.set(segments, { input, granularity: slots.granularity, breaks: undefined });
    return segments;
  } });
  accessors(segmenterProto, { resolvedOptions() {
    const slots = segmenterSlots.get(this, "Intl.Segmenter.prototype.resolvedOptions");
    return { locale: slots.locale, granularity: slots.granularity };
  } });
  tag(segmenterProto, "Intl.Segmenter");

  // `[end, wordLike...]` of every segment, computed once per `segment()` result, a window of
  // at most SEGMENT_WINDOW code units at a time: what ICU4X allocates on the host side for
  // a call stays small, and the boundaries accumulate in the plugin's heap, under its
  // ceiling. Each window starts at the previous one's last boundary but for its end (which the
  // window's end may have cut), so the breaks are those of the whole text; a segment longer
  // than a window is cut at the window's end.
  const SEGMENT_WINDOW = 8192;
  function breaksOf(slots) {
    if (slots.breaks !== undefined) return slots.breaks;
    const input = slots.input;
    const breaks = [];
    let from = 0;
    while (from < input.length) {
      let to = Math.min(from + SEGMENT_WINDOW, input.length);
      // Never between the halves of a surrogate pair.
      const last = input.charCodeAt(to - 1);
      if (to < input.length && last >= 0xd800 && last <= 0xdbff) to++;
      const found = natives.segment(slots.granularity, input.slice(from, to));
      const atEnd = to === input.length;
      let next = to;
      for (let i = 0; i < found.length; i += 2) {
        const end = from + found[i];
        if (!atEnd && end === to && i > 0) break;
        breaks.push(end, found[i + 1]);
        next = end;
      }
      from = next;
    }
    slots.breaks = breaks;
    return breaks;
  }
  function segmentData(slots, i) {
    const breaks = breaksOf(slots);
    const start = i === 0 ? 0 : breaks[i - 2];
    const end = breaks[i];
    const data = { segment: slots.input.slice(start, end), index: start, input: slots.input };
    if (slots.granularity === "word") data.isWordLike = breaks[i + 1] === 1;
    return data;
  }
  const segmentsProto = {};
  accessors(segmentsProto, { containing(index = undefined) {
    const slots = segmentsSlots.get(this, "Segments.prototype.containing");
    let n = index === undefined ? 0 : Math.trunc(NumberCtor(index)) || 0;
    if (n < 0 || n >= slots.input.length) return undefined;
    const breaks = breaksOf(slots);
    for (let i = 0; i < breaks.length; i += 2) {
      if (n < breaks[i]) return segmentData(slots, i);
    }
    return undefined;
  } });
  const segmentIteratorProto = create(getPrototypeOf(getPrototypeOf([][SymbolIterator]())));
  accessors(segmentsProto, { [SymbolIterator]() {
    const slots = segmentsSlots.get(this, "Segments.prototype[Symbol.iterator]");
    const it = create(segmentIteratorProto);
    iteratorSlots.set(it, { slots, next: 0 });
    return it;
  } });
  const iteratorSlots = Slots("Segment Iterator");
  accessors(segmentIteratorProto, { next() {
    const state = iteratorSlots.get(this, "%SegmentIteratorPrototype%.next");
    const breaks = breaksOf(state.slots);
    if (state.next >= breaks.length) return { value: undefined, done: true };
    const value = segmentData(state.slots, state.next);
    state.next += 2;
    return { value, done: false };
  } });
  tag(segmentIteratorProto, "Segmenter String Iterator");

  // ---- Locale ----

  const localeSlots = Slots("Intl.Locale");
  localeSlots.has = (object) => {
    try {
      localeSlots.get(object, "");
      return true;
    } catch {
      return false;
    }
  };
  function Locale(tagArg, options = undefined) {
    if (new.target === undefined) throw new TypeError("Intl.Locale must be called with new");
    if (typeof tagArg !== "string" && (tagArg === null || typeof tagArg !== "object")) {
      throw new TypeError("Intl.Locale needs a language tag string or a Locale");
    }
    let text = localeSlots.has(tagArg) ? localeSlots.get(tagArg, "").tag : StringCtor(tagArg);
    options = coerceOptions(options);
    let canonical = natives.canonicalize(text);
    if (canonical === undefined || canonical === null) throw new RangeError(`incorrect locale information provided: \`${text}\``);
    const parts = splitTag(canonical);
    const subtags = parts.base.split("-");
    let language = subtags[0];
    let script = subtags.find((s, i) => i > 0 && s.length === 4);
    let region = subtags.find((s, i) => i > 0 && (s.length === 2 || (s.length === 3 && /^[0-9]/.test(s))));
    const variants = subtags.filter((s, i) => i > 0 && s !== script && s !== region);
    const replace = (name, pattern) => {
      const value = getOption(options, name, "string");
      if (value !== undefined && !pattern.test(value)) throw new RangeError(`invalid ${name}: "${value}"`);
      return value;
    };
    language = replace("language", /^([a-zA-Z]{2,3}|[a-zA-Z]{5,8})$/) ?? language;
    script = replace("script", /^[a-zA-Z]{4}$/) ?? script;
    region = replace("region", /^([a-zA-Z]{2}|[0-9]{3})$/) ?? region;
    const keywords = parts.keywords;
    const keyword = (name, key, values) => {
      const value = getOption(options, name, name === "numeric" ? "boolean" : "string", values);
      if (value !== undefined) {
        const text = StringCtor(value);
        if (values === undefined) checkType(text, name);
        keywords[key] = text;
      }
    };
    keyword("calendar", "ca");
    keyword("collation", "co");
    keyword("hourCycle", "hc", ["h11", "h12", "h23", "h24"]);
    keyword("caseFirst", "kf", ["upper", "lower", "false"]);
    keyword("numeric", "kn");
    keyword("numberingSystem", "nu");
    const base = [language, script, region, ...variants].filter((s) => s !== undefined).join("-");
    const names = keys(keywords).sort();
    const ext = names.map((k) => (keywords[k] === "" || keywords[k] === "true" ? k : `${k}-${keywords[k]}`)).join("-");
    text = base + (names.length > 0 ? `-u-${ext}` : "") + (parts.others.length > 0 ? `-${parts.others.join("-")}` : "");
    canonical = natives.canonicalize(text);
    if (canonical === undefined || canonical === null) throw new RangeError(`incorrect locale information provided: \`${text}\``);
    localeSlots.set(this, { tag: canonical });
  }
  const localeProto = Locale.prototype;
  const localeInfo = (locale, what) => {
    const { tag: text } = localeSlots.get(locale, `Intl.Locale.prototype.${what}`);
    const parts = splitTag(text);
    const subtags = parts.base.split("-");
    return {
      text,
      parts,
      language: subtags[0],
      script: subtags.find((s, i) => i > 0 && s.length === 4),
      region: subtags.find((s, i) => i > 0 && (s.length === 2 || (s.length === 3 && /^[0-9]/.test(s)))),
    };
  };
  accessors(localeProto, { toString() {
    return localeInfo(this, "toString").text;
  } });
  accessors(localeProto, { toJSON() {
    return localeInfo(this, "toJSON").text;
  } });
  accessors(localeProto, { maximize() {
    return new Locale(natives.expand(localeInfo(this, "maximize").text, true));
  } });
  accessors(localeProto, { minimize() {
    return new Locale(natives.expand(localeInfo(this, "minimize").text, false));
  } });
  accessors(localeProto, { get baseName() {
    return localeInfo(this, "baseName").parts.base;
  } });
  accessors(localeProto, { get language() {
    return localeInfo(this, "language").language;
  } });
  accessors(localeProto, { get script() {
    return localeInfo(this, "script").script;
  } });
  accessors(localeProto, { get region() {
    return localeInfo(this, "region").region;
  } });
  for (const [name, key] of [["calendar", "ca"], ["collation", "co"], ["hourCycle", "hc"], ["caseFirst", "kf"], ["numberingSystem", "nu"]]) {
    accessors(localeProto, {
      get [name]() {
        const value = localeInfo(this, name).parts.keywords[key];
        return value === "" ? "true" : value;
      },
    });
  }
  accessors(localeProto, { get variants() {
    const info = localeInfo(this, "variants");
    const variants = info.parts.base.split("-").filter((s, i) => i > 0 && s !== info.script && s !== info.region);
    return variants.length === 0 ? undefined : variants.join("-");
  } });
  accessors(localeProto, { get numeric() {
    const value = localeInfo(this, "numeric").parts.keywords.kn;
    return value === "" || value === "true";
  } });
  tag(localeProto, "Intl.Locale");

  // ---- Intl ----

  const Intl = {};
  const constructors = [
    ["Collator", Collator, 0],
    ["DateTimeFormat", DateTimeFormat, 0],
    ["ListFormat", ListFormat, 0],
    ["Locale", Locale, 1],
    ["NumberFormat", NumberFormat, 0],
    ["PluralRules", PluralRules, 0],
    ["RelativeTimeFormat", RelativeTimeFormat, 0],
    ["Segmenter", Segmenter, 0],
  ];
  for (const [name, ctor] of constructors) {
    defineProperty(ctor, "prototype", { __proto__: null, writable: false, enumerable: false, configurable: false });
    if (name !== "Locale") {
      accessors(ctor, { supportedLocalesOf(locales, options = undefined) {
        return supportedLocalesOf(locales, options);
      } });
    }
    method(Intl, name, ctor);
  }
  accessors(Intl, { getCanonicalLocales(locales) {
    return canonicalizeLocaleList(locales);
  } });
  accessors(Intl, { supportedValuesOf(key) {
    return natives.supportedValues(StringCtor(key));
  } });
  tag(Intl, "Intl");

  // ---- the built-ins' locale methods (stub.js calls these with `this` first) ----

  const formats = { __proto__: null };
  // The formatter for the default options, kept: `toLocaleString()` without arguments is the
  // common call (luxon, CSV writers).
  function cached(key, make) {
    return formats[key] ?? (formats[key] = make());
  }

  const locale = {
    __proto__: null,
    date(thisValue, locales, options, required, defaults) {
      const x = call(dateGetTime, thisValue);
      if (x !== x) return "Invalid Date";
      const slots = locales === undefined && options === undefined
        ? cached(`date:${required}`, () => createDateTimeFormat(undefined, undefined, required, defaults))
        : createDateTimeFormat(locales, options, required, defaults);
      return asciiSpaces(joinParts(dateTimeParts(slots, x)));
    },
    number(thisValue, locales, options) {
      const x = call(numberValueOf, thisValue);
      const slots = locales === undefined && options === undefined ? cached("number", () => createNumberFormat()) : createNumberFormat(locales, options);
      return joinParts(numberParts(slots, x));
    },
    bigint(thisValue, locales, options) {
      const x = call(bigintValueOf, thisValue);
      const slots = locales === undefined && options === undefined ? cached("number", () => createNumberFormat()) : createNumberFormat(locales, options);
      return joinParts(numberParts(slots, x));
    },
    compare(thisValue, that, locales, options) {
      if (thisValue === undefined || thisValue === null) throw new TypeError("String.prototype.localeCompare called on null or undefined");
      const s = StringCtor(thisValue);
      const t = StringCtor(that);
      const slots = locales === undefined && options === undefined ? cached("collator", () => createCollator()) : createCollator(locales, options);
      return nativeCollator(slots)(s, t);
    },
    caseMap(thisValue, locales, upper) {
      if (thisValue === undefined || thisValue === null) throw new TypeError("String.prototype.toLocaleUpperCase called on null or undefined");
      const s = StringCtor(thisValue);
      const requested = canonicalizeLocaleList(locales);
      const language = requested.length === 0 ? "en" : splitTag(requested[0]).base;
      return natives.caseMap(language, s, upper);
    },
    array(thisValue, locales, options) {
      const array = ObjectCtor(thisValue);
      const length = toLength(array.length);
      let text = "";
      for (let k = 0; k < length; k++) {
        if (k > 0) text += ",";
        const element = array[k];
        if (element !== undefined && element !== null) {
          text += StringCtor(element.toLocaleString(locales, options));
        }
      }
      return text;
    },
  };

  return { __proto__: null, Intl, locale };
})
