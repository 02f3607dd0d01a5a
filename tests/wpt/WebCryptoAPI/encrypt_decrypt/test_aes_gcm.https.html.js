// Extracted from test_aes_gcm.https.html by vendor.py.
// META: script=aes_gcm_vectors.js
// META: script=aes.js

run_test();

