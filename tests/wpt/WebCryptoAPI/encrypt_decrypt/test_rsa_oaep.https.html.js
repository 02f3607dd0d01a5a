// Extracted from test_rsa_oaep.https.html by vendor.py.
// META: script=rsa_vectors.js
// META: script=rsa.js

run_test();

