"""Getting missing model files from the Hugging Face Hub, verified, into ComfyUI's model folders.

`sources.py` turns what a user or a workflow names into a Hub file (registry name, workflow link,
REPO/PATH[@REVISION]); `remote.py` asks the Hub through huggingface_hub for the pinned commit and
the file's own checksum; `transfer.py` downloads into a partial file beside the target (resumable,
locked, hashed as it arrives); `verify.py` reads the header of what arrived; `get.py` ties them
together and publishes the file without ever overwriting one; `jobs.py` runs downloads for the
ComfyUI route on a bounded pool. Nothing here runs unless the user asks for a download.
"""
