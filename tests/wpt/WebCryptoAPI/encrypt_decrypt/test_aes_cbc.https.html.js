// Extracted from test_aes_cbc.https.html by vendor.py.
// META: script=aes_cbc_vectors.js
// META: script=aes.js

run_test();

