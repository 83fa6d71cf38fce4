"""A dozen real, familiar drugs: the tiny molecule corpus the molgen tests train and sample on."""

DRUGS = [
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "Cn1c(=O)c2c(ncn2C)n(C)c1=O",  # caffeine
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",  # ibuprofen
    "CC(=O)Nc1ccc(O)cc1",  # paracetamol
    "CN1CCC[C@H]1c1cccnc1",  # nicotine
    "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21",  # diazepam
    "CC(C)NCC(O)COc1cccc2ccccc12",  # propranolol
    "NC(=O)N1c2ccccc2C=Cc2ccccc21",  # carbamazepine
    "CN(C)CCCN1c2ccccc2CCc2ccccc21",  # imipramine
    "O=C(O)c1ccccc1O",  # salicylic acid
    "CCN(CC)CCNC(=O)c1ccc(N)cc1",  # procainamide
    "COc1ccc2[nH]cc(CCNC(C)=O)c2c1",  # melatonin
]
