using System.Net;
using System.Net.Http.Json;

namespace IfApi.Tests;

public sealed class SqliteEventTests(SqliteStore store) : EventTests<SqliteStore>(store);

public sealed class PostgresEventTests(PostgresStore store) : EventTests<PostgresStore>(store);

/// <summary>The routing socket as Server-Sent Events: every committed change once, in order, resumable.</summary>
public abstract class EventTests<TStore>(TStore store) : ApiTests<TStore>(store) where TStore : StoreFixture
{
    [Fact]
    public async Task Every_kind_of_change_is_announced_once_in_order_with_ids_that_increase_by_one()
    {
        var c = await Client.AttachCloner();
        await using var events = await EventStream.OpenAsync(Client);
        var created = await Client.CreateOk(c);
        var (id, name) = (created.Str("id"), created.Str("name"));
        await (await Client.Patch(name, $$"""{"name":"{{c}}w","mtu":9000,"up":true}""")).Json();
        await (await Client.PutAsync($"/v1/interfaces/{id}/groups/{c}lan", null)).Json(HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{id}/groups/{c}lan")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{id}")).StatusCode);

        var seen = await events.ReadUntilAsync(e => e.Type == "interface-departure" && e.InterfaceId == id);
        for (var i = 1; i < seen.Count; i++)
            Assert.Equal(seen[i - 1].Id + 1, seen[i].Id);
        var mine = seen.Where(e => e.InterfaceId == id || e.Body.TryGetProperty("subject", out var s) && s.GetString() == $"{c}lan").ToList();
        Assert.Equal(
            ["interface-arrival", "interface-rename", "link-up", "interface-change", "group-change", "group-attach", "group-detach", "group-change", "interface-departure"],
            mine.Select(e => e.Type));
        Assert.Equal((name, $"{c}w"), (mine[1].Data.Str("oldName"), mine[1].Data.Str("name")));
        Assert.Equal(9000, mine[3].Data.GetProperty("changes").Int("mtu"));
        Assert.True(mine[4].Data.GetProperty("exists").GetBoolean());
        Assert.False(mine[7].Data.GetProperty("exists").GetBoolean());
        Assert.Equal((name, created.Int("index")), (mine[0].Data.Str("name"), mine[0].Data.Int("index")));
    }

    [Fact]
    public async Task Cloners_coming_and_going_and_links_going_down_are_announced()
    {
        await using var events = await EventStream.OpenAsync(Client);
        var c = await Client.AttachCloner(minIfs: 1);
        var made = (await Client.CreateOk(c)).Str("name");
        await (await Client.Patch(made, """{"up":true}""")).Json();
        await (await Client.Patch(made, """{"up":false}""")).Json();
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/cloners/{c}")).StatusCode);

        var seen = await events.ReadUntilAsync(e => e.Type == "cloner-detach" && e.Data.Str("cloner") == c);
        var mine = seen.Where(e => e.Body.TryGetProperty("subject", out var s) && s.GetString()!.StartsWith(c, StringComparison.Ordinal)).ToList();
        Assert.Equal(
            ["interface-arrival", "cloner-attach", "interface-arrival", "link-up", "link-down", "interface-departure", "interface-departure", "cloner-detach"],
            mine.Select(e => e.Type));
        Assert.Equal($"{c}0", mine[0].Data.Str("name")); // the minIfs unit arrives with its cloner
        Assert.Equal([$"{c}0", made], mine.Where(e => e.Type == "interface-departure").Select(e => e.Data.Str("name")).Order());
    }

    [Fact]
    public async Task A_stream_cut_mid_way_resumes_after_Last_Event_ID_without_loss_or_repeats()
    {
        var c = await Client.AttachCloner();
        var names = new List<string>();
        long last;
        await using (var events = await EventStream.OpenAsync(Client, query: $"?type=interface-arrival"))
        {
            for (var i = 0; i < 3; i++)
                names.Add((await Client.CreateOk(c)).Str("name"));
            var first = await events.NextAsync();
            var second = await events.NextAsync();
            Assert.Equal((names[0], names[1]), (first.Data.Str("name"), second.Data.Str("name")));
            last = second.Id;
        } // the subscriber goes away with one event unread

        for (var i = 0; i < 3; i++)
            names.Add((await Client.CreateOk(c)).Str("name"));
        await using var again = await EventStream.OpenAsync(Client, lastEventId: last.ToString(System.Globalization.CultureInfo.InvariantCulture), query: "?type=interface-arrival");
        var rest = new List<SseEvent>();
        while (rest.Count < 4)
            rest.Add(await again.NextAsync());
        Assert.Equal(names[2..], rest.Select(e => e.Data.Str("name")));
        Assert.All(rest, e => Assert.True(e.Id > last));
        Assert.Equal(rest.Count, rest.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public async Task A_refused_change_announces_nothing()
    {
        var c = await Client.AttachCloner();
        await using var events = await EventStream.OpenAsync(Client);
        var a = (await Client.CreateOk(c)).Str("name");
        var b = (await Client.CreateOk(c)).Str("name");
        await (await Client.Patch(a, """{"mtu":10}""")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Patch(a, $$"""{"name":"{{b}}"}""")).Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Client.PostAsJsonAsync($"/v1/interfaces/{a}/groups", new { group = "x1" })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Patch(a, $$"""{"name":"{{a}}"}""")).Json(); // the same name: nothing changes, nothing is said
        var marker = (await Client.CreateOk(c)).Str("name");
        var seen = await events.ReadUntilAsync(e => e.Type == "interface-arrival" && e.Data.Str("name") == marker);
        Assert.Equal(["interface-arrival", "interface-arrival", "interface-arrival"], seen.Select(e => e.Type));
    }

    [Fact]
    public async Task Events_written_through_one_host_reach_subscribers_of_another()
    {
        using var other = Store.NewFactory();
        using var otherHttp = other.CreateClient();
        var c = await Client.AttachCloner();
        await using var events = await EventStream.OpenAsync(otherHttp, query: "?type=interface-arrival");
        var name = (await Client.CreateOk(c)).Str("name");
        var e = await events.NextAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(name, e.Data.Str("name"));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("1.5")]
    public async Task A_bad_Last_Event_ID_is_EINVAL(string id)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        request.Headers.TryAddWithoutValidation("Last-Event-ID", id);
        await (await Client.SendAsync(request)).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.GetAsync($"/v1/events?after={Uri.EscapeDataString(id)}")).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }
}
