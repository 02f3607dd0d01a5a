// Extracted from test_hmac.https.html by vendor.py.
// META: script=hmac_vectors.js
// META: script=hmac.js

run_test();

