// A small stand-in for WPT's resources/testharness.js, for running `.any.js` tests inside an
// aether sandbox (tests/wpt.rs). Evaluated as a classic script before the test's own scripts;
// `__wpt.finish()` returns a promise of `{ results: [{ name, status, message }], error }`.
//
// What it follows of testharness.js: `test` runs at once, `async_test` starts at once and ends
// at `done()`, `promise_test`s run one after the other in the order they were made; an
// exception in a step fails that test; the harness completes once the scripts have run and
// every test made so far has ended (or `done()` was called under `explicit_done`), or at the
// file's timeout, when every unfinished test is a TIMEOUT. Not implemented: `fetch_tests_from_
// worker`, `idl_test`, the DOM output. Names and semantics: https://web-platform-tests.org/
// writing-tests/testharness-api.html
(function () {
  "use strict";
  const global = globalThis;
  const PASS = "PASS", FAIL = "FAIL", TIMEOUT = "TIMEOUT", NOTRUN = "NOTRUN";
  // Captured before the test runs: tests replace globals (and Promise.prototype.then).
  const realSetTimeout = global.setTimeout;
  const realClearTimeout = global.clearTimeout;
  const PromiseCtor = Promise;
  const resolveP = (v) => PromiseCtor.resolve(v);

  const tests = [];
  const promiseQueue = [];
  let promiseRunning = false;
  let scriptsDone = false;
  let singleTest = null;
  let fileTitle = "Untitled";
  let explicitDone = false;
  let doneCalled = false;
  let finished = false;
  let harnessError = null;
  let finishResolve;
  const finishPromise = new PromiseCtor((r) => { finishResolve = r; });
  const completionCallbacks = [];
  let currentTest = null;

  function AssertionError(message) {
    this.message = message;
  }
  AssertionError.prototype = Object.create(Error.prototype);
  AssertionError.prototype.name = "AssertionError";

  function format(v) {
    try {
      if (typeof v === "string") return JSON.stringify(v);
      if (typeof v === "number" && Object.is(v, -0)) return "-0";
      if (typeof v === "symbol") return String(v);
      if (Array.isArray(v)) return "[" + v.map(format).join(", ") + "]";
      if (v instanceof Error || (v && typeof v === "object" && "name" in v && "message" in v)) {
        return `object "${v.name}: ${v.message}"`;
      }
      if (typeof v === "object" && v !== null) return "object \"" + String(v) + "\"";
      return String(v);
    } catch (e) {
      return "<unformattable>";
    }
  }

  function fail(description, message) {
    throw new AssertionError((description ? description + ": " : "") + message);
  }
  function assert(ok, name, description, message) {
    if (!ok) fail(description, name + ": " + message);
  }

  function sameValue(a, b) {
    if (a !== a && b !== b) return true;
    if (a === 0 && b === 0) return 1 / a === 1 / b;
    return a === b;
  }

  // Runs `fn` as a step of `test`: an exception fails it (only the first failure counts).
  function runStep(test, fn, thisObj, args) {
    if (test.phase === "done") return undefined;
    const previous = currentTest;
    currentTest = test;
    try {
      return fn.apply(thisObj, args);
    } catch (e) {
      test.failWith(e);
      return undefined;
    } finally {
      currentTest = previous;
    }
  }

  function describeError(e) {
    if (e instanceof AssertionError) return e.message;
    try {
      return (e && e.name ? e.name + ": " : "") + (e && e.message !== undefined ? e.message : String(e));
    } catch (_) {
      return "<error>";
    }
  }

  class Test {
    constructor(name, properties) {
      this.name = name;
      this.properties = properties || {};
      this.status = NOTRUN;
      this.message = null;
      this.phase = "started";
      this.cleanups = [];
      this.timers = [];
      this.resolveDone = null;
      tests.push(this);
    }
    step(fn, thisObj, ...args) {
      return runStep(this, fn, thisObj === undefined ? this : thisObj, args);
    }
    step_func(fn, thisObj) {
      const test = this;
      return function (...args) {
        return runStep(test, fn, thisObj === undefined ? this : thisObj, args);
      };
    }
    step_func_done(fn, thisObj) {
      const test = this;
      return function (...args) {
        let r;
        if (fn) r = runStep(test, fn, thisObj === undefined ? this : thisObj, args);
        test.done();
        return r;
      };
    }
    unreached_func(description) {
      return this.step_func(function () {
        assert_unreached(description);
      });
    }
    step_timeout(fn, ms, ...args) {
      const test = this;
      const id = realSetTimeout(() => {
        runStep(test, fn, test, args);
      }, ms);
      this.timers.push(id);
      return id;
    }
    step_wait_func(cond, fn, description, timeout = 3000, interval = 100) {
      const test = this;
      const start = Date.now();
      const poll = () => {
        if (test.phase === "done") return;
        let ok = false;
        try { ok = cond(); } catch (e) { test.failWith(e); return; }
        if (ok) { runStep(test, fn, test, []); return; }
        if (Date.now() - start > timeout) {
          test.failWith(new AssertionError(description || "timed out waiting on condition"));
          return;
        }
        test.step_timeout(poll, interval);
      };
      poll();
    }
    step_wait_func_done(cond, fn, description, timeout, interval) {
      this.step_wait_func(cond, () => { if (fn) fn(); this.done(); }, description, timeout, interval);
    }
    step_wait(cond, description, timeout = 3000, interval = 100) {
      return new PromiseCtor((resolve, reject) => {
        const start = Date.now();
        const poll = () => {
          let ok = false;
          try { ok = cond(); } catch (e) { reject(e); return; }
          if (ok) { resolve(); return; }
          if (Date.now() - start > timeout) { reject(new AssertionError(description || "timed out")); return; }
          realSetTimeout(poll, interval);
        };
        poll();
      });
    }
    add_cleanup(fn) {
      this.cleanups.push(fn);
    }
    failWith(e) {
      if (this.phase === "done") return;
      this.status = FAIL;
      this.message = describeError(e);
      this.done();
    }
    force_timeout() {
      this.timeout();
    }
    timeout() {
      if (this.phase === "done") return;
      this.status = TIMEOUT;
      this.message = "the test did not finish before the file's timeout";
      this.finishNow();
    }
    done() {
      if (this.phase === "done") return;
      if (this.status === NOTRUN) this.status = PASS;
      this.finishNow();
    }
    finishNow() {
      this.phase = "done";
      for (const id of this.timers) realClearTimeout(id);
      this.timers = [];
      const cleanups = this.cleanups;
      this.cleanups = [];
      const results = [];
      for (const c of cleanups) {
        try {
          results.push(c());
        } catch (e) {
          harnessError ??= "cleanup failed: " + describeError(e);
        }
      }
      const after = () => {
        if (this.resolveDone) this.resolveDone();
        scheduleCheck();
      };
      // add_cleanup functions of promise_test may return promises: wait for them.
      if (results.some((r) => r && typeof r.then === "function")) {
        PromiseCtor.all(results).then(after, after);
      } else {
        after();
      }
    }
  }

  function test(fn, name, properties) {
    const t = new Test(name === undefined ? "(unnamed test)" : name, properties);
    runStep(t, fn, t, [t]);
    t.done();
    return t;
  }

  function async_test(fn, name, properties) {
    if (typeof fn !== "function") {
      properties = name;
      name = fn;
      fn = null;
    }
    const t = new Test(name === undefined ? "(unnamed test)" : name, properties);
    if (fn) runStep(t, fn, t, [t]);
    return t;
  }

  function promise_test(fn, name, properties) {
    const t = new Test(name === undefined ? "(unnamed test)" : name, properties);
    t.phase = "queued";
    promiseQueue.push([t, fn]);
    if (!promiseRunning) runNextPromiseTest();
    return t;
  }

  function runNextPromiseTest() {
    const next = promiseQueue.shift();
    if (next === undefined) {
      promiseRunning = false;
      scheduleCheck();
      return;
    }
    promiseRunning = true;
    const [t, fn] = next;
    if (t.phase === "done") {
      runNextPromiseTest();
      return;
    }
    t.phase = "started";
    const ended = new PromiseCtor((resolve) => { t.resolveDone = resolve; });
    ended.then(() => realSetTimeout(runNextPromiseTest, 0));
    let result;
    const previous = currentTest;
    currentTest = t;
    try {
      result = fn(t);
    } catch (e) {
      t.failWith(e);
      return;
    } finally {
      currentTest = previous;
    }
    if (!result || typeof result.then !== "function") {
      t.failWith(new AssertionError("promise_test: test body must return a 'thenable' object (received " + format(result) + ")"));
      return;
    }
    resolveP(result).then(
      () => t.done(),
      (e) => t.failWith(e),
    );
  }

  function setup(fnOrProps, maybeProps) {
    let props = maybeProps;
    if (typeof fnOrProps === "function") {
      try {
        fnOrProps();
      } catch (e) {
        harnessError ??= "setup failed: " + describeError(e);
      }
    } else {
      props = fnOrProps;
    }
    if (props && props.explicit_done) explicitDone = true;
    // testharness.js's single-test mode: the file is one test, named by its META title, that
    // passes at done() unless an assertion at the top level threw first.
    if (props && props.single_test && singleTest === null) {
      singleTest = new Test(fileTitle, {});
      explicitDone = true;
    }
  }

  function promise_setup(fn, props) {
    setup(props || {});
    // Runs before the promise tests: hold the queue until it settles.
    const gate = new Test("promise_setup", {});
    tests.pop();
    promiseQueue.unshift([gate, () => resolveP(fn()).catch((e) => {
      harnessError ??= "promise_setup failed: " + describeError(e);
    })]);
    if (!promiseRunning) runNextPromiseTest();
  }

  function done() {
    if (singleTest !== null) singleTest.done();
    doneCalled = true;
    scheduleCheck();
  }

  let checkPending = false;
  function scheduleCheck() {
    if (checkPending || finished) return;
    checkPending = true;
    realSetTimeout(() => {
      checkPending = false;
      check();
    }, 0);
  }
  function check() {
    if (finished || !scriptsDone) return;
    if (explicitDone && !doneCalled) return;
    if (promiseRunning || promiseQueue.length > 0) return;
    if (tests.some((t) => t.phase !== "done")) return;
    finish();
  }
  function finish() {
    if (finished) return;
    finished = true;
    for (const t of tests) if (t.phase !== "done") t.timeout();
    // Names and messages may hold lone surrogates (test names built from their inputs, as in
    // `Response.json("\uDEAD")`), which JSON cannot carry to the runner: each becomes U+FFFD.
    const wellFormed = (text) => (text == null ? text : String(text).toWellFormed());
    const results = tests.map((t) => ({ name: wellFormed(t.name), status: t.status, message: wellFormed(t.message) }));
    for (const cb of completionCallbacks) {
      try { cb(tests, { status: harnessError ? 1 : 0, message: harnessError }); } catch (_) {}
    }
    finishResolve({ results, error: harnessError });
  }

  // Assertions.
  function assert_true(actual, description) {
    assert(actual === true, "assert_true", description, "expected true got " + format(actual));
  }
  function assert_false(actual, description) {
    assert(actual === false, "assert_false", description, "expected false got " + format(actual));
  }
  function assert_equals(actual, expected, description) {
    if (typeof actual !== typeof expected) {
      fail(description, "assert_equals: expected (" + typeof expected + ") " + format(expected) +
        " but got (" + typeof actual + ") " + format(actual));
    }
    assert(sameValue(actual, expected), "assert_equals", description,
      "expected " + format(expected) + " but got " + format(actual));
  }
  function assert_not_equals(actual, expected, description) {
    assert(!sameValue(actual, expected), "assert_not_equals", description,
      "got disallowed value " + format(actual));
  }
  function assert_in_array(actual, expected, description) {
    assert(expected.indexOf(actual) !== -1, "assert_in_array", description,
      "value " + format(actual) + " not in array " + format(expected));
  }
  function assert_array_equals(actual, expected, description) {
    assert(typeof actual === "object" && actual !== null && "length" in actual, "assert_array_equals",
      description, "value is " + format(actual) + ", expected array");
    assert(actual.length === expected.length, "assert_array_equals", description,
      "lengths differ, expected array " + format(expected) + " length " + expected.length +
      ", got " + format(actual) + " length " + actual.length);
    for (let i = 0; i < actual.length; i++) {
      assert(actual.hasOwnProperty(i) === expected.hasOwnProperty(i), "assert_array_equals", description,
        "expected property " + i + " to be " + (expected.hasOwnProperty(i) ? "present" : "missing"));
      assert(sameValue(expected[i], actual[i]), "assert_array_equals", description,
        "expected property " + i + " to be " + format(expected[i]) + " but got " + format(actual[i]) +
        " (expected array " + format(expected) + " got " + format(actual) + ")");
    }
  }
  function assert_array_approx_equals(actual, expected, epsilon, description) {
    assert(actual.length === expected.length, "assert_array_approx_equals", description, "lengths differ");
    for (let i = 0; i < actual.length; i++) {
      assert(Math.abs(actual[i] - expected[i]) <= epsilon, "assert_array_approx_equals", description,
        "property " + i + " expected " + expected[i] + " +/- " + epsilon + " but got " + actual[i]);
    }
  }
  function assert_approx_equals(actual, expected, epsilon, description) {
    assert(typeof actual === "number", "assert_approx_equals", description, "expected a number");
    assert(Math.abs(actual - expected) <= epsilon, "assert_approx_equals", description,
      "expected " + format(expected) + " +/- " + epsilon + " but got " + format(actual));
  }
  function compare(name, op) {
    return function (actual, expected, description) {
      assert(typeof actual === typeof expected && (typeof actual === "number" || typeof actual === "bigint"),
        name, description, "expected a number but got a " + typeof actual);
      assert(op(actual, expected), name, description, "expected a number " + name.replace("assert_", "").replace(/_/g, " ") +
        " " + format(expected) + " but got " + format(actual));
    };
  }
  const assert_less_than = compare("assert_less_than", (a, b) => a < b);
  const assert_greater_than = compare("assert_greater_than", (a, b) => a > b);
  const assert_less_than_equal = compare("assert_less_than_equal", (a, b) => a <= b);
  const assert_greater_than_equal = compare("assert_greater_than_equal", (a, b) => a >= b);
  function assert_between_exclusive(actual, lower, upper, description) {
    assert(typeof actual === "number" && actual > lower && actual < upper, "assert_between_exclusive",
      description, "expected a number between " + lower + " and " + upper + " but got " + format(actual));
  }
  function assert_between_inclusive(actual, lower, upper, description) {
    assert(typeof actual === "number" && actual >= lower && actual <= upper, "assert_between_inclusive",
      description, "expected a number between " + lower + " and " + upper + " but got " + format(actual));
  }
  function assert_regexp_match(actual, expected, description) {
    assert(expected.test(actual), "assert_regexp_match", description,
      "expected " + format(expected) + " but got " + format(actual));
  }
  function assert_not_regexp_match(actual, expected, description) {
    assert(!expected.test(actual), "assert_not_regexp_match", description,
      "expected not " + format(expected) + " but got " + format(actual));
  }
  function assert_class_string(object, class_string, description) {
    const actual = Object.prototype.toString.call(object);
    const expected = "[object " + class_string + "]";
    assert(actual === expected, "assert_class_string", description,
      "expected " + format(expected) + " but got " + format(actual));
  }
  function assert_own_property(object, property_name, description) {
    assert(object !== null && object !== undefined && Object.prototype.hasOwnProperty.call(object, property_name),
      "assert_own_property", description, "expected property " + format(property_name) + " missing");
  }
  function assert_not_own_property(object, property_name, description) {
    assert(!Object.prototype.hasOwnProperty.call(object, property_name), "assert_not_own_property",
      description, "unexpected property " + format(property_name) + " is found on object");
  }
  function assert_inherits(object, property_name, description) {
    assert(typeof object === "object" || typeof object === "function", "assert_inherits", description,
      "provided value is not an object");
    assert(!Object.prototype.hasOwnProperty.call(object, property_name), "assert_inherits", description,
      "property " + format(property_name) + " found on object expected in prototype chain");
    assert(property_name in object, "assert_inherits", description,
      "property " + format(property_name) + " not found in prototype chain");
  }
  const assert_idl_attribute = assert_inherits;
  function assert_readonly(object, property_name, description) {
    const initial = object[property_name];
    try {
      object[property_name] = initial + "a";
      assert(sameValue(object[property_name], initial), "assert_readonly", description,
        "changing property " + format(property_name) + " succeeded");
    } finally {
      try { object[property_name] = initial; } catch (_) {}
    }
  }
  function assert_object_equals(actual, expected, description) {
    assert(typeof actual === "object" && actual !== null, "assert_object_equals", description,
      "value is " + format(actual) + ", expected object");
    const seen = [];
    const check = (a, e, path) => {
      if (seen.includes(e)) return;
      seen.push(e);
      for (const p in a) {
        assert(Object.prototype.hasOwnProperty.call(e, p), "assert_object_equals", description,
          "unexpected property " + format(p) + path);
        if (typeof a[p] === "object" && a[p] !== null) check(a[p], e[p], path + "." + p);
        else assert(sameValue(a[p], e[p]), "assert_object_equals", description,
          "property " + format(p) + path + " expected " + format(e[p]) + " got " + format(a[p]));
      }
      for (const p in e) {
        assert(Object.prototype.hasOwnProperty.call(a, p), "assert_object_equals", description,
          "expected property " + format(p) + path + " missing");
      }
    };
    check(actual, expected, "");
  }
  function assert_unreached(description) {
    fail(description, "assert_unreached: reached unreachable code");
  }
  function OptionalFeatureUnsupportedError(message) {
    this.message = message;
  }
  OptionalFeatureUnsupportedError.prototype = Object.create(AssertionError.prototype);
  function assert_implements(condition, description) {
    assert(!!condition, "assert_implements", description, "");
  }
  function assert_implements_optional(condition, description) {
    if (!condition) throw new OptionalFeatureUnsupportedError(description);
  }

  // DOMException names by legacy code, and legacy constant names by name.
  const codeNames = {
    1: "IndexSizeError", 3: "HierarchyRequestError", 4: "WrongDocumentError", 5: "InvalidCharacterError",
    7: "NoModificationAllowedError", 8: "NotFoundError", 9: "NotSupportedError", 10: "InUseAttributeError",
    11: "InvalidStateError", 12: "SyntaxError", 13: "InvalidModificationError", 14: "NamespaceError",
    15: "InvalidAccessError", 17: "TypeMismatchError", 18: "SecurityError", 19: "NetworkError",
    20: "AbortError", 21: "URLMismatchError", 22: "QuotaExceededError", 23: "TimeoutError",
    24: "InvalidNodeTypeError", 25: "DataCloneError",
  };
  const legacyNames = {
    INDEX_SIZE_ERR: 1, HIERARCHY_REQUEST_ERR: 3, WRONG_DOCUMENT_ERR: 4, INVALID_CHARACTER_ERR: 5,
    NO_MODIFICATION_ALLOWED_ERR: 7, NOT_FOUND_ERR: 8, NOT_SUPPORTED_ERR: 9, INUSE_ATTRIBUTE_ERR: 10,
    INVALID_STATE_ERR: 11, SYNTAX_ERR: 12, INVALID_MODIFICATION_ERR: 13, NAMESPACE_ERR: 14,
    INVALID_ACCESS_ERR: 15, TYPE_MISMATCH_ERR: 17, SECURITY_ERR: 18, NETWORK_ERR: 19, ABORT_ERR: 20,
    URL_MISMATCH_ERR: 21, QUOTA_EXCEEDED_ERR: 22, TIMEOUT_ERR: 23, INVALID_NODE_TYPE_ERR: 24,
    DATA_CLONE_ERR: 25,
  };
  const jsErrors = ["EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError", "Error"];

  function checkDomException(name, e, type, ctor, description) {
    let expectedName = type;
    if (typeof type === "number") expectedName = codeNames[type];
    else if (type in legacyNames) expectedName = codeNames[legacyNames[type]];
    assert(typeof e === "object" && e !== null, name, description, "thrown value is " + format(e) + ", expected a DOMException");
    const expectedCtor = ctor || global.DOMException;
    assert(e.constructor === expectedCtor, name, description,
      "thrown " + format(e) + " is not a DOMException " + expectedName);
    assert(e.name === expectedName, name, description,
      "thrown " + format(e) + " has name " + format(e.name) + ", expected " + format(expectedName));
  }
  function checkJsError(name, e, ctor, description) {
    assert(typeof e === "object" && e !== null, name, description, "thrown value is " + format(e) + ", expected a " + (ctor && ctor.name));
    assert(e.constructor === ctor, name, description,
      "expected " + (ctor && ctor.name) + " but got " + format(e) + " (constructor " + (e.constructor && e.constructor.name) + ")");
  }

  function assert_throws_js(ctor, fn, description) {
    try {
      fn.call(currentTest);
    } catch (e) {
      if (e instanceof AssertionError) throw e;
      checkJsError("assert_throws_js", e, ctor, description);
      return;
    }
    fail(description, "assert_throws_js: function " + format(String(fn).slice(0, 80)) + " did not throw");
  }
  function assert_throws_dom(type, ctorOrFn, fnOrDescription, description) {
    let ctor, fn;
    if (typeof fnOrDescription === "function") {
      ctor = ctorOrFn; fn = fnOrDescription;
    } else {
      fn = ctorOrFn; description = fnOrDescription;
    }
    try {
      fn.call(currentTest);
    } catch (e) {
      if (e instanceof AssertionError) throw e;
      checkDomException("assert_throws_dom", e, type, ctor, description);
      return;
    }
    fail(description, "assert_throws_dom: function " + format(String(fn).slice(0, 80)) + " did not throw");
  }
  function assert_throws_exactly(expected, fn, description) {
    try {
      fn.call(currentTest);
    } catch (e) {
      if (e instanceof AssertionError) throw e;
      assert(sameValue(e, expected), "assert_throws_exactly", description,
        format(e) + " is not the expected value " + format(expected));
      return;
    }
    fail(description, "assert_throws_exactly: function did not throw");
  }
  // The pre-2020 form: `code` is a DOMException name or code, or an object whose `name` the
  // thrown error's name must equal (how JS errors were checked).
  function assert_throws(code, fn, description) {
    try {
      fn.call(currentTest);
    } catch (e) {
      if (e instanceof AssertionError) throw e;
      if (code === null || code === undefined) return;
      if (typeof code === "object") {
        assert(typeof e === "object" && e !== null && "name" in e && e.name === code.name, "assert_throws",
          description, "thrown " + format(e) + " has the wrong name, expected " + format(code.name));
        return;
      }
      checkDomException("assert_throws", e, code, null, description);
      return;
    }
    fail(description, "assert_throws: function did not throw");
  }

  function promise_rejects_with(name, test, checkFn, promise, description) {
    return resolveP(promise).then(
      () => { throw new AssertionError((description ? description + ": " : "") + name + ": expected a rejection but the promise resolved"); },
      (e) => { if (e instanceof AssertionError) throw e; checkFn(e); },
    );
  }
  function promise_rejects_js(test, ctor, promise, description) {
    return promise_rejects_with("promise_rejects_js", test,
      (e) => checkJsError("promise_rejects_js", e, ctor, description), promise, description);
  }
  function promise_rejects_dom(test, type, ctorOrPromise, promiseOrDescription, description) {
    let ctor, promise;
    if (promiseOrDescription && typeof promiseOrDescription.then === "function") {
      ctor = ctorOrPromise; promise = promiseOrDescription;
    } else {
      promise = ctorOrPromise; description = promiseOrDescription;
    }
    return promise_rejects_with("promise_rejects_dom", test,
      (e) => checkDomException("promise_rejects_dom", e, type, ctor, description), promise, description);
  }
  function promise_rejects_exactly(test, expected, promise, description) {
    return promise_rejects_with("promise_rejects_exactly", test, (e) => {
      assert(sameValue(e, expected), "promise_rejects_exactly", description,
        format(e) + " is not the expected value " + format(expected));
    }, promise, description);
  }
  function promise_rejects(test, code, promise, description) {
    return promise_rejects_with("promise_rejects", test, (e) => {
      if (code === null || code === undefined) return;
      if (typeof code === "object") {
        assert(e && e.name === code.name, "promise_rejects", description,
          "rejected with " + format(e) + ", expected name " + format(code.name));
      } else {
        checkDomException("promise_rejects", e, code, null, description);
      }
    }, promise, description);
  }

  function EventWatcher(test, watchedNode, eventTypes) {
    if (typeof eventTypes === "string") eventTypes = [eventTypes];
    let waitingFor = null;
    const handler = test.step_func((evt) => {
      assert_true(!!waitingFor, "Not expecting event, but got " + evt.type + " event");
      assert_equals(evt.type, waitingFor.types[0], "Expected " + waitingFor.types[0] + " event, but got " + evt.type + " event instead");
      if (waitingFor.types.length > 1) {
        waitingFor.types.shift();
        return;
      }
      const resolve = waitingFor.resolve;
      waitingFor = null;
      resolve(evt);
    });
    for (const t of eventTypes) watchedNode.addEventListener(t, handler, false);
    this.wait_for = function (types) {
      if (waitingFor) return PromiseCtor.reject("Already waiting for an event or events");
      if (typeof types === "string") types = [types];
      return new PromiseCtor((resolve, reject) => {
        waitingFor = { types: types.slice(), resolve, reject };
      });
    };
    this.stop_watching = function () {
      for (const t of eventTypes) watchedNode.removeEventListener(t, handler, false);
    };
    test.add_cleanup(() => this.stop_watching());
  }

  function generate_tests(fn, args, properties) {
    for (const [name, ...rest] of args) {
      test(function () { fn.apply(this, rest); }, name, properties);
    }
  }

  function step_timeout(fn, ms, ...args) {
    return realSetTimeout(() => {
      try { fn(...args); } catch (e) { harnessError ??= "uncaught in step_timeout: " + describeError(e); }
    }, ms);
  }

  const exported = {
    test, async_test, promise_test, setup, promise_setup, done, generate_tests, step_timeout,
    add_completion_callback: (cb) => completionCallbacks.push(cb),
    add_result_callback: () => {},
    add_start_callback: () => {},
    format_value: format,
    assert_true, assert_false, assert_equals, assert_not_equals, assert_in_array, assert_array_equals,
    assert_array_approx_equals, assert_approx_equals, assert_less_than, assert_greater_than,
    assert_less_than_equal, assert_greater_than_equal, assert_between_exclusive, assert_between_inclusive,
    assert_regexp_match, assert_not_regexp_match, assert_class_string, assert_own_property,
    assert_not_own_property, assert_inherits, assert_idl_attribute, assert_readonly, assert_object_equals,
    assert_unreached, assert_implements, assert_implements_optional, assert_throws_js, assert_throws_dom,
    assert_throws_exactly, assert_throws, promise_rejects_js, promise_rejects_dom, promise_rejects_exactly,
    promise_rejects, EventWatcher, AssertionError,
    // The WPT globals a worker scope has.
    self: global,
  };
  for (const name of Object.keys(exported)) {
    Object.defineProperty(global, name, { value: exported[name], writable: true, configurable: true, enumerable: false });
  }
  global.GLOBAL = {
    isWindow: () => false,
    isWorker: () => true,
    isShadowRealm: () => false,
  };
  // A timer callback that throws would end the step (aether fails a step on an uncaught
  // exception, as Node.js does); in a browser it is only reported. Tests' own timers get the
  // browser behaviour: the exception fails the test whose step is running, else the harness.
  global.setTimeout = function (fn, ms, ...args) {
    if (typeof fn !== "function") return realSetTimeout(fn, ms, ...args);
    const owner = currentTest;
    return realSetTimeout(() => {
      try {
        fn(...args);
      } catch (e) {
        if (owner && owner.phase !== "done") owner.failWith(e);
        else harnessError ??= "uncaught exception in a timer: " + describeError(e);
      }
    }, ms);
  };
  global.clearTimeout = realClearTimeout;

  // `fetch` of a relative URL reads the vendored tree (the data files of the URL and encoding
  // tests); anything else goes to aether's fetch, which the runner's host refuses.
  const realFetch = global.fetch;
  global.__wpt = {
    // `base`: the test file's directory inside the vendored tree, with a trailing slash.
    install(base, file, title) {
      if (title) fileTitle = title;
      const here = "http://web-platform.test/" + base;
      // A WorkerLocation: the URL's parts, without `searchParams`.
      const url = new URL(file, here);
      const location = { toString: () => url.href };
      for (const key of ["href", "origin", "protocol", "host", "hostname", "port", "pathname", "search", "hash"]) {
        location[key] = url[key];
      }
      global.location = location;
      global.fetch = function (input, init) {
        const text = typeof input === "string" ? input : input && input.url;
        if (typeof text === "string" && !/^[a-z][a-z0-9+.-]*:/i.test(text)) {
          const url = new URL(text, here);
          const path = url.pathname.slice(1);
          // aether.fs.readText is synchronous.
          return PromiseCtor.resolve().then(() => aether.fs.readText(path)).then((body) => {
            const type = path.endsWith(".json") ? "application/json" : "text/plain";
            return new Response(body, { headers: { "content-type": type } });
          });
        }
        return realFetch(input, init);
      };
    },
    scriptsDone(error) {
      if (error !== undefined && singleTest !== null) {
        singleTest.failWith(error);
        doneCalled = true;
      } else if (error !== undefined) {
        harnessError ??= "the test script threw: " + describeError(error);
      }
      scriptsDone = true;
      scheduleCheck();
    },
    finish(timeoutMs) {
      realSetTimeout(() => {
        harnessError ??= finished ? null : "the file timed out";
        finish();
      }, timeoutMs);
      return finishPromise;
    },
  };
})();
