// Extracted from test_digest.https.html by vendor.py.
// META: script=digest.js

run_test();

