"""Learning the language rules from a labelled corpus.

The flow: ``corpus`` reads a council's YAML sources (``corpora/train/<council>/``) and turns
them into real messages; ``examples`` runs each message through the checker's own intake
and each rule's role gate, and labels every sentence of the sender's own words from the
writer's evidence; ``learn`` trains and scores a model on those sentences, validated by
leaving whole councils out; ``card`` records what was trained on what, with what result.
"""
