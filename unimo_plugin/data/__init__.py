"""The train-time fairseq datasets of the UNIMO plugin (pretraining corpora, fine-tuning sets) and
what they share: masking, collating, batching, object tags, region inputs, the typed CMCL batch."""
