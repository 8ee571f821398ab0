"""``aepipe bench``: how fast the shipped denoiser and the pipeline around it really are.

One run measures, with the same thread count throughout:

1. model inference MP/s, ONNX Runtime (CPU) vs torch eager on the same weights
   (:mod:`aepipe.tools.bench.models`);
2. pipeline throughput on synthetic photos: inference only, then end to end from local folders
   and from a SeaweedFS server it starts itself (:mod:`aepipe.tools.bench.pipeline`);
3. the learned codec on the same photos: whole compress/decompress MP/s, and entropy coding
   alone in MB/s of latent symbols with its share of those calls (:mod:`.compress`);
4. with ``--scale-out``, the same job as whole runs: one process, 1 and 2 Dask workers,
   2 shard runs (:mod:`.scale`);
5. with ``--report-keys N``, the peak memory of planning and of the report merge at 10,000
   and N keys (:mod:`.report_memory`);
6. with ``--image-mp M``, the peak memory of one M-megapixel image through the identity and
   denoise tasks (:mod:`.image_memory`);
7. with ``--startup``, an ad-hoc run of one small image with Prefect's temporary API, with a
   background server reused, with ``PREFECT_API_URL``, beside an empty flow (:mod:`.startup`).

Speed goals are checked here, by measurement on a named machine, never by timed unit tests.
torch is optional: without it the torch row says why it is missing.
"""
