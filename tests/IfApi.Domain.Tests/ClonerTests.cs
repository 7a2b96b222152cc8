using IfApi.Domain;

namespace IfApi.Domain.Tests;

public class ClonerTests
{
    private static readonly ClonerSpec[] Stock = [.. ClonerSpec.BuiltIn.Reverse()];

    private static ValueTask<CloneMatch?> Match(string name, params string[] existing) =>
        ClonerMatcher.MatchAsync(Stock, name, (n, _) => ValueTask.FromResult(existing.Contains(n)), default);

    [Theory]
    [InlineData("tap", "tap", "")]
    [InlineData("tap7", "tap", "7")]
    [InlineData("tap07", "tap", "07")] // matches; ifc_name2unit refuses it later
    [InlineData("lo", "lo", "")]
    [InlineData("epair3", "epair", "3")]
    [InlineData("vlan", "vlan", "")]
    [InlineData("bridge12", "bridge", "12")]
    public async Task The_simple_matcher_takes_the_cloner_name_and_digits(string name, string cloner, string unitText)
    {
        var m = Assert.IsType<UnitMatch>(await Match(name));
        Assert.Equal(cloner, m.Cloner.Name);
        Assert.Equal(unitText, m.UnitText);
    }

    [Theory]
    [InlineData("tapx")]
    [InlineData("tap7x")]
    [InlineData("epair0a")]
    [InlineData("em0")]
    [InlineData("ta")]
    [InlineData("em0.100")] // no parent em0
    public async Task Names_no_cloner_accepts_do_not_match(string name) => Assert.Null(await Match(name));

    [Fact]
    public async Task Vlan_matches_parent_dot_tag_when_the_parent_exists()
    {
        var m = Assert.IsType<VlanDotMatch>(await Match("em0.100", "em0"));
        Assert.Equal(("vlan", "em0", 100), (m.Cloner.Name, m.Parent, m.Tag));
    }

    [Theory]
    [InlineData("em0.0")]
    [InlineData("em0.4095")]
    [InlineData("em0.99999999999")]
    public async Task A_vlan_tag_outside_1_to_4094_still_matches_vlan_but_has_no_tag(string name) =>
        Assert.Null(Assert.IsType<VlanDotMatch>(await Match(name, "em0")).Tag); // the creator says EINVAL, after EEXIST

    [Fact]
    public async Task The_newest_cloner_that_matches_wins()
    {
        var custom = new ClonerSpec("tap", InterfaceKind.Bridge, 5, false, 0);
        var m = await ClonerMatcher.MatchAsync([custom, .. Stock], "tap1", (_, _) => ValueTask.FromResult(false), default);
        Assert.Same(custom, m!.Cloner);
    }

    [Fact]
    public void Epair_units_make_two_names_and_hold_three()
    {
        var epair = Stock.Single(c => c.Name == "epair");
        Assert.Equal(["epair4a", "epair4b"], epair.InterfaceNames(4));
        Assert.Equal(["epair4", "epair4a", "epair4b"], epair.NamesHeldByUnit(4));
    }

    [Fact]
    public void Built_in_cloners_are_lo_with_one_minimum_unit_and_the_rest_with_none()
    {
        Assert.Equal(["lo", "tap", "bridge", "epair", "vlan"], ClonerSpec.BuiltIn.Select(c => c.Name));
        Assert.Equal(1, ClonerSpec.BuiltIn[0].MinIfs);
        Assert.All(ClonerSpec.BuiltIn.Skip(1), c => Assert.Equal(0, c.MinIfs));
        Assert.All(ClonerSpec.BuiltIn, c => Assert.Equal(ClonerSpec.IfMaxUnit, c.MaxUnit));
    }

    [Theory]
    [InlineData(null, "tap", null, null, Errno.EINVAL)]
    [InlineData("", "tap", null, null, Errno.EINVAL)]
    [InlineData("Tap", "tap", null, null, Errno.EINVAL)]
    [InlineData("tap0", "tap", null, null, Errno.EINVAL)]
    [InlineData("abcdefghij", "tap", null, null, Errno.ENAMETOOLONG)]
    [InlineData("wan", "ether", null, null, Errno.EINVAL)]
    [InlineData("wan", null, null, null, Errno.EINVAL)]
    [InlineData("wan", "tap", 32768, null, Errno.EINVAL)]
    [InlineData("wan", "tap", -1, null, Errno.EINVAL)]
    [InlineData("wan", "tap", 3, 5, Errno.EINVAL)]
    [InlineData("wan", "tap", null, -1, Errno.EINVAL)]
    public void Bad_cloner_definitions_are_refused(string? name, string? kind, int? maxUnit, int? minIfs, Errno errno) =>
        Assert.Equal(errno, Assert.Throws<IfError>(() => ClonerSpec.Create(name, kind, maxUnit, null, minIfs)).Errno);

    [Fact]
    public void A_cloner_of_nine_letters_with_defaults_is_accepted()
    {
        var c = ClonerSpec.Create("abcdefghi", "tap", null, null, null);
        Assert.Equal(new ClonerSpec("abcdefghi", InterfaceKind.Tap, ClonerSpec.IfMaxUnit, false, 0), c);
        Assert.True(c.UnitName(ClonerSpec.IfMaxUnit).Length <= IfNames.MaxBytes);
    }
}
