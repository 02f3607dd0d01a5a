// Extracted from test_wrapKey_unwrapKey.https.html by vendor.py.
// META: script=wrapKey_unwrapKey.js

run_test();

