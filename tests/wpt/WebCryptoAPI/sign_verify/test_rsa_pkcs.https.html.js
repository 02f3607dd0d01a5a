// Extracted from test_rsa_pkcs.https.html by vendor.py.
// META: script=rsa_pkcs_vectors.js
// META: script=rsa.js

run_test();

