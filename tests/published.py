"""Facts about the published models that tests check the code against (from the issues and papers)."""

#: Parameter counts of the eight published models, in the order of the paper and tech report.
PUBLISHED_PARAMETER_COUNTS = {
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "densenet161": 28_681_000,
    "densenet264": 33_337_704,
    "densenet232": 55_570_984,
    "densenet264_cosine": 33_337_704,
    "densenet264_k48_cosine": 72_686_632,
}

#: The CIFAR architectures of issue 11's table, in table order: (stem width, parameters with 10 classes,
#: with 100 classes) for the paper's stem, and (10, 100 classes) with the released Lua code's 2k stem, which is
#: what genuine Lua Torch7 reports (``model:getParameters():nElement()``).
CIFAR_PARAMETER_COUNTS = {
    "densenet_l40_k12": (16, 1_019_722, 1_060_132, 1_059_298, 1_100_428),
    "densenet_l100_k12": (16, 6_979_642, 7_084_852, 7_083_538, 7_189_468),
    "densenet_l100_k24": (16, 27_249_082, 27_457_972, 28_071_706, 28_283_476),
    "densenet_bc_l100_k12": (24, 769_162, 800_032, 769_162, 800_032),
    "densenet_bc_l250_k24": (48, 15_324_406, 15_480_556, 15_324_406, 15_480_556),
    "densenet_bc_l190_k40": (80, 25_624_430, 25_821_620, 25_624_430, 25_821_620),
    "wide_densenet_bc_l40_k36": (72, 1_542_682, 1_578_412, 1_542_682, 1_578_412),
    "wide_densenet_bc_l40_k48": (96, 2_733_130, 2_780_740, 2_733_130, 2_780_740),
    "wide_densenet_bc_l40_k60": (120, 4_261_690, 4_321_180, 4_261_690, 4_321_180),
}
