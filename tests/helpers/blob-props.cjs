// Test helper: reads or changes a blob's properties "behind the module's back", with @azure/storage-blob.
// stdin: {"endpoint","account","key","container","blob","setContentMD5"?: base64}   stdout: the properties as JSON.
// The key arrives on stdin only, like everywhere else.
const { BlobServiceClient, StorageSharedKeyCredential } = require('@azure/storage-blob');

let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', async () => {
  try {
    const req = JSON.parse(input);
    const blob = new BlobServiceClient(req.endpoint, new StorageSharedKeyCredential(req.account, req.key)).getContainerClient(req.container).getBlobClient(req.blob);
    let props = await blob.getProperties();
    if (req.setContentMD5 !== undefined) {
      await blob.setHTTPHeaders({
        blobContentType: props.contentType,
        blobContentMD5: Buffer.from(req.setContentMD5, 'base64'),
        blobCacheControl: props.cacheControl,
        blobContentDisposition: props.contentDisposition,
        blobContentEncoding: props.contentEncoding,
        blobContentLanguage: props.contentLanguage,
      });
      props = await blob.getProperties();
    }
    process.stdout.write(
      JSON.stringify({
        contentLength: props.contentLength,
        contentType: props.contentType,
        contentMD5: props.contentMD5 ? Buffer.from(props.contentMD5).toString('base64') : null,
        cacheControl: props.cacheControl ?? null,
        contentDisposition: props.contentDisposition ?? null,
        contentEncoding: props.contentEncoding ?? null,
        contentLanguage: props.contentLanguage ?? null,
        accessTier: props.accessTier ?? null,
        metadata: props.metadata ?? {},
      }),
    );
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: String(err && err.message) }));
    process.exitCode = 1;
  }
});
