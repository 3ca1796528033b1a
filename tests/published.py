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
