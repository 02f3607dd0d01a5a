// Extracted from test_ecdsa.https.html by vendor.py.
// META: script=ecdsa_vectors.js
// META: script=ecdsa.js

run_test();

