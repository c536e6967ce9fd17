import pytest

from mirrorgan_keras.runtime.precision import cpu_has_native_bfloat16

X86_AVX2 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx2 avx512f fma\n"


@pytest.mark.parametrize("text, expected", [
    (X86_AVX2, False),
    (X86_AVX2.replace("fma", "fma avx512_bf16"), True),
    (X86_AVX2.replace("fma", "fma amx_bf16 amx_tile"), True),
    ("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n", True),  # Arm (Neoverse V1)
    ("processor\t: 0\nFeatures\t: fp asimd evtstrm crc32\n", False),
    ("processor\t: 0\nmodel name\t: some CPU\n", False),  # no flags line at all
])
def test_cpu_has_native_bfloat16_reads_the_flags(tmp_path, text, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert cpu_has_native_bfloat16(str(cpuinfo)) is expected


def test_cpu_has_native_bfloat16_is_false_without_cpuinfo(tmp_path):
    assert cpu_has_native_bfloat16(str(tmp_path / "missing")) is False
