// Extracted from test_ec_importKey.https.html by vendor.py.
// META: script=ec_importKey.js

run_test();

