// Verifies webhooks with the reference Standard Webhooks library (npm "standardwebhooks").
// Usage: node verify-webhook.js SECRET FILE...  where each FILE is JSON {"headers": {...}, "body_b64": "..."}
// holding one request exactly as a receiver got it. Prints one line per file, "ok <webhook-id>"
// or "invalid <reason>", and exits 1 if any did not verify.
"use strict";
const fs = require("fs");
const { Webhook } = require("standardwebhooks");

const [secret, ...files] = process.argv.slice(2);
if (!secret || files.length === 0) {
  console.error("usage: node verify-webhook.js SECRET FILE...");
  process.exit(2);
}
const hook = new Webhook(secret);
let failed = 0;
for (const file of files) {
  const request = JSON.parse(fs.readFileSync(file, "utf8"));
  const body = Buffer.from(request.body_b64, "base64");
  try {
    // the raw bytes, as sent: re-serialised JSON would not match the signature
    hook.verify(new Uint8Array(body), request.headers);
    console.log(`ok ${request.headers["webhook-id"]}`);
  } catch (err) {
    failed += 1;
    console.log(`invalid ${err.message}`);
  }
}
process.exit(failed ? 1 : 0);
