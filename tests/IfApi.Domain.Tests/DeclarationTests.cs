using IfApi.Domain;

namespace IfApi.Domain.Tests;

/// <summary>How a declared interface becomes a create and the settings after it, without a store.</summary>
public class DeclarationTests
{
    [Theory]
    [InlineData(null, null, "tap", "tap", null)]           // the classic create: the name picks the cloner
    [InlineData(null, null, "tap7", "tap7", null)]
    [InlineData("tap", null, null, "tap", null)]           // a cloner: its lowest free unit
    [InlineData("tap", 7, null, "tap7", null)]             // a cloner and a unit
    [InlineData("tap", null, "tap9", "tap9", null)]        // a name the cloner gives itself is created as such
    [InlineData("tap", 9, "tap9", "tap9", null)]
    [InlineData("tap", null, "wan0", "tap", "wan0")]       // any other name renames the clone
    [InlineData("tap", 7, "tap8", "tap7", "tap8")]         // unit and name disagree: unit 7, renamed
    [InlineData("tap", null, "tap07", "tap", "tap07")]     // not a unit of the cloner's (leading zero): a rename
    [InlineData("tap", null, "tapx", "tap", "tapx")]
    public void A_declaration_is_a_create_and_maybe_a_rename(string? cloner, int? unit, string? name, string create, string? rename) =>
        Assert.Equal((create, rename), new Declaration { Cloner = cloner, Unit = unit, Name = name }.Names());

    [Theory]
    [InlineData(null, null, null, Errno.EINVAL)]            // nothing to create
    [InlineData(null, 3, "tap", Errno.EINVAL)]              // a unit without a cloner
    [InlineData("tap", -1, null, Errno.EINVAL)]
    [InlineData("Tap", null, null, Errno.EINVAL)]           // not a cloner's name
    [InlineData("tap", null, "a-very-long-interface-name", Errno.ENAMETOOLONG)]
    [InlineData(null, null, "", Errno.EINVAL)]
    public void A_declaration_that_names_nothing_creatable_is_refused(string? cloner, int? unit, string? name, Errno errno) =>
        Assert.Equal(errno, Assert.Throws<IfError>(() => new Declaration { Cloner = cloner, Unit = unit, Name = name }.Names()).Errno);

    [Fact]
    public void Settings_follow_the_create_as_one_patch()
    {
        var d = new Declaration { Cloner = "tap", Mtu = 9000, Metric = 3, Description = "x", Up = true, Lladdr = "02:00:00:00:00:01" };
        var p = d.AfterCreate("wan0");
        Assert.Equal(("wan0", 9000, 3, "x", true, "02:00:00:00:00:01"), (p.Name, p.Mtu, p.Metric, p.Description, p.Up, p.Lladdr));
        Assert.True(new Declaration { Cloner = "tap" }.AfterCreate(null).IsEmpty);
    }

    [Fact]
    public void A_replace_puts_what_is_not_declared_back_at_its_default()
    {
        var current = new InterfaceAttributes("tap3", Kinds.EthernetFlags | IfFlags.Up | IfFlags.Running | IfFlags.Debug, 9000, 5, "old", "f2:0b:a4:00:00:03");
        var after = new Declaration { Description = "new" }.Replace(InterfaceKind.Tap).Apply(current, InterfaceKind.Tap);
        Assert.Equal(new InterfaceAttributes("tap3", Kinds.EthernetFlags | IfFlags.Running, 1500, 0, "new", "f2:0b:a4:00:00:03"), after);
        var up = new Declaration { Up = true }.Replace(InterfaceKind.Tap).Apply(current, InterfaceKind.Tap);
        Assert.Equal((Kinds.EthernetFlags | IfFlags.Up | IfFlags.Running, (string?)null), (up.Flags, up.Description));
    }

    [Fact]
    public void The_groups_wanted_are_all_the_cloners_and_the_declared()
    {
        var d = new Declaration { Groups = ["lan", "all"] };
        Assert.Equal(["all", "lan", "tap"], d.GroupsWanted("tap").Order());
        Assert.Equal(["all", "lan"], d.GroupsWanted(null).Order());
        Assert.Equal(Errno.EINVAL, Assert.Throws<IfError>(() => new Declaration { Name = "tap", Groups = ["lan0"] }.Validate()).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<IfError>(() => new Declaration { Name = "tap", Up = true, Flags = IfFlags.None }.Validate()).Errno);
    }
}
