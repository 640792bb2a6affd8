#!/usr/bin/env python3
"""Loads a folder written by `mosaicbert export` with the upstream MosaicBERT code and compares its outputs with ours.

The upstream code is mosaicml/examples, examples/benchmarks/bert/src (bert_layers.py, bert_padding.py,
configuration_bert.py); give its folder with --upstream. Needs torch, transformers, safetensors and einops.

  bin/mosaicbert export --model MODEL --output HF_DIR
  bin/mosaicbert predict --model MODEL --input texts.txt --output PRED --format json   # (add --embedding mean
                                                                                         #  for a classifier)
  python3 scripts/check-hf-export.py --upstream SRC --export HF_DIR --predictions PRED

For a classifier it compares the logits with predict's rawPrediction; for an MLM model the mean of the last hidden
states with predict's embedding. Prints the largest absolute difference and exits 1 above --tolerance.
"""
import argparse
import glob
import json
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True, help="folder of bert_layers.py and its siblings")
    p.add_argument("--export", required=True, help="the folder mosaicbert export wrote")
    p.add_argument("--predictions", required=True, help="the JSON folder mosaicbert predict wrote")
    p.add_argument("--tolerance", type=float, default=1e-4)
    args = p.parse_args()
    sys.path.insert(0, args.upstream)
    import torch
    import bert_layers
    import configuration_bert
    from safetensors.torch import load_file
    from transformers import BertTokenizer

    config = configuration_bert.BertConfig.from_pretrained(args.export)
    classifier = "BertForSequenceClassification" in (config.architectures or [])
    model = (bert_layers.BertForSequenceClassification if classifier else bert_layers.BertForMaskedLM)(config)
    missing, unexpected = model.load_state_dict(load_file(args.export + "/model.safetensors"), strict=False)
    # The MLM decoder weight is the word embedding matrix itself (tied), so its own key is never stored.
    missing = [k for k in missing if k != "cls.predictions.decoder.weight"]
    if missing or unexpected:
        sys.exit("tensor names do not match the upstream model: missing %s, unexpected %s" % (missing, unexpected))
    model.eval()
    tokenizer = BertTokenizer.from_pretrained(args.export)
    rows = []
    for part in sorted(glob.glob(args.predictions + "/part-*.json")):
        rows += [json.loads(line) for line in open(part)]
    worst = 0.0
    for row in rows:
        if not row.get("text"):
            continue
        enc = tokenizer(row["text"], return_tensors="pt")
        with torch.no_grad():
            if classifier:
                theirs = model(**enc).logits[0]
                ours = torch.tensor(row["rawPrediction"])
            else:
                theirs = model.bert(enc["input_ids"], token_type_ids=enc["token_type_ids"],
                                    attention_mask=enc["attention_mask"])[0][0].mean(0)
                ours = torch.tensor(row["embedding"])
        worst = max(worst, (theirs - ours).abs().max().item())
    print("%d texts, %s: largest absolute difference %.2e" % (len(rows), "logits" if classifier else
                                                               "mean embeddings", worst))
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
