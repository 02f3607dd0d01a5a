// Extracted from test_aes_ctr.https.html by vendor.py.
// META: script=aes_ctr_vectors.js
// META: script=aes.js

run_test();

