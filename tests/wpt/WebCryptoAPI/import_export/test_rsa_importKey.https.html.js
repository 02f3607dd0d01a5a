// Extracted from test_rsa_importKey.https.html by vendor.py.
// META: script=rsa_importKey.js

run_test();

