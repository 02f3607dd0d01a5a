// Extracted from test_rsa_pss.https.html by vendor.py.
// META: script=rsa_pss_vectors.js
// META: script=rsa.js

run_test();

