using IfApi.Domain;

namespace IfApi.Domain.Tests;

/// <summary>Every case of <c>ifc_name2unit</c>, applied to what follows the cloner name.</summary>
public class NameToUnitTests
{
    [Theory]
    [InlineData("", null)]
    [InlineData("0", 0)]
    [InlineData("7", 7)]
    [InlineData("10", 10)]
    [InlineData("32767", 32767)]
    [InlineData("2147483647", int.MaxValue)]
    public void Accepts_nothing_as_a_wildcard_and_decimal_units(string suffix, int? expected)
    {
        Assert.True(IfNames.TryParseUnit(suffix, out var unit, out _));
        Assert.Equal(expected, unit);
    }

    [Theory]
    [InlineData("07")]          // leading zero
    [InlineData("00")]
    [InlineData("7x")]          // junk after the unit
    [InlineData("x")]
    [InlineData("1.5")]
    [InlineData("-1")]
    [InlineData("2147483648")]  // int overflow
    [InlineData("99999999999")]
    public void Refuses_leading_zeros_junk_and_overflow_with_EINVAL(string suffix)
    {
        Assert.False(IfNames.TryParseUnit(suffix, out _, out var error));
        Assert.Equal(Errno.EINVAL, error);
    }

    [Theory]
    [InlineData("tap0")]
    [InlineData("wan")]
    [InlineData("a23456789012345")] // 15 bytes
    [InlineData("é1234567890123")]  // 15 bytes in UTF-8
    public void Names_up_to_15_bytes_are_valid(string name) => IfNames.Validate(name);

    [Theory]
    [InlineData("a234567890123456", Errno.ENAMETOOLONG)]
    [InlineData("éé234567890123", Errno.ENAMETOOLONG)] // 16 bytes in UTF-8
    [InlineData("", Errno.EINVAL)]
    [InlineData("tap\u00000", Errno.EINVAL)]
    [InlineData("ta p", Errno.EINVAL)]
    [InlineData("a/b", Errno.EINVAL)]
    public void Bad_names_get_the_kernels_errno(string name, Errno errno) =>
        Assert.Equal(errno, Assert.Throws<IfError>(() => IfNames.Validate(name)).Errno);

    [Fact]
    public void A_lone_surrogate_is_EINVAL()
    {
        var name = "a" + (char)0xd800; // built at run time: attribute metadata cannot carry one
        Assert.Equal(Errno.EINVAL, Assert.Throws<IfError>(() => IfNames.Validate(name)).Errno);
    }

    [Theory]
    [InlineData("lan")]
    [InlineData("all")]
    [InlineData("egress")]
    public void Group_names_not_ending_in_a_digit_are_valid(string group) => GroupNames.Validate(group);

    [Theory]
    [InlineData("lan0", Errno.EINVAL)]
    [InlineData("", Errno.EINVAL)]
    [InlineData("abcdefghijklmnop", Errno.ENAMETOOLONG)]
    public void Bad_group_names_get_the_kernels_errno(string group, Errno errno) =>
        Assert.Equal(errno, Assert.Throws<IfError>(() => GroupNames.Validate(group)).Errno);
}
