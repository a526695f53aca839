// The JavaScript SDK v3 as an edge-agent client in the test/clients
// integration tests: lists a bucket with credentials from the default Node.js
// provider chain and prints one JSON line with the access key ID it signed
// with (never a secret).
import { S3Client, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";

const [endpoint, bucket] = process.argv.slice(2);
if (!endpoint || !bucket) {
  console.error("usage: node list.mjs ENDPOINT BUCKET");
  process.exit(2);
}

const credentials = fromNodeProviderChain();
const client = new S3Client({ endpoint, forcePathStyle: true, credentials });

try {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  const creds = await credentials();
  const keys = (out.Contents ?? []).map((o) => o.Key);
  console.log(JSON.stringify({ access_key_id: creds.accessKeyId, keys }));
} catch (err) {
  console.error(`list bucket ${bucket}: ${err.name}: ${err.message}`);
  process.exit(1);
}
