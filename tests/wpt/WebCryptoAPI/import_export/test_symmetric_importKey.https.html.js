// Extracted from test_symmetric_importKey.https.html by vendor.py.
// META: script=symmetric_importKey.js

run_test();

