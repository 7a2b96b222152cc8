using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace IfApi.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class Vnets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_interfaces_cloners_cloner",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_interfaces_cloner_unit",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_interfaces_if_index",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_interfaces_name",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_group_members_group_name_interface_id",
                table: "group_members");

            migrationBuilder.DropUniqueConstraint(
                name: "AK_cloners_name",
                table: "cloners");

            migrationBuilder.AddColumn<string>(
                name: "home_vnet",
                table: "interfaces",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "host");

            migrationBuilder.AddColumn<string>(
                name: "vnet",
                table: "interfaces",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "host");

            migrationBuilder.AddColumn<string>(
                name: "vnet",
                table: "group_members",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "host");

            migrationBuilder.AddColumn<string>(
                name: "vnet",
                table: "events",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "host");

            migrationBuilder.AddColumn<string>(
                name: "vnet",
                table: "cloners",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "host");

            migrationBuilder.AddUniqueConstraint(
                name: "AK_cloners_vnet_name",
                table: "cloners",
                columns: new[] { "vnet", "name" });

            migrationBuilder.CreateTable(
                name: "vnets",
                columns: table => new
                {
                    name = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    max_interfaces = table.Column<int>(type: "INTEGER", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_vnets", x => x.name);
                });

            // The host's stack always exists; every row there was is in it. Its index pool is 1..int.MaxValue.
            migrationBuilder.Sql("INSERT INTO vnets (name, max_interfaces, created_at) VALUES ('host', 2147483647, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))");

            // SQLite checks foreign keys while it copies interfaces into their rebuilt table, before
            // cloners is rebuilt with its new unique key: an index makes (vnet, name) a key meanwhile.
            // It goes with the old cloners table.
            migrationBuilder.Sql("CREATE UNIQUE INDEX \"IX_cloners_vnet_name_while_migrating\" ON \"cloners\" (\"vnet\", \"name\")");

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_home_vnet_cloner_unit",
                table: "interfaces",
                columns: new[] { "home_vnet", "cloner", "unit" });

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_vnet_if_index",
                table: "interfaces",
                columns: new[] { "vnet", "if_index" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_vnet_name",
                table: "interfaces",
                columns: new[] { "vnet", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_group_members_vnet_group_name_interface_id",
                table: "group_members",
                columns: new[] { "vnet", "group_name", "interface_id" });

            migrationBuilder.AddForeignKey(
                name: "FK_cloners_vnets_vnet",
                table: "cloners",
                column: "vnet",
                principalTable: "vnets",
                principalColumn: "name",
                onDelete: ReferentialAction.Restrict);

            migrationBuilder.AddForeignKey(
                name: "FK_interfaces_cloners_home_vnet_cloner",
                table: "interfaces",
                columns: new[] { "home_vnet", "cloner" },
                principalTable: "cloners",
                principalColumns: new[] { "vnet", "name" },
                onDelete: ReferentialAction.Restrict);

            migrationBuilder.AddForeignKey(
                name: "FK_interfaces_vnets_vnet",
                table: "interfaces",
                column: "vnet",
                principalTable: "vnets",
                principalColumn: "name",
                onDelete: ReferentialAction.Restrict);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // Below this version there is one stack: what other vnets hold has nowhere to go. They are
            // deleted through the service first (DELETE /v1/vnets/NAME), which returns and destroys as it
            // should; until then the check below fails, naming what to do.
            migrationBuilder.Sql("""
                CREATE TEMP TABLE ifapi_down_guard (vnets INTEGER CONSTRAINT delete_every_vnet_but_host_before_migrating_below_vnets CHECK (vnets = 0));
                INSERT INTO ifapi_down_guard SELECT count(*) FROM vnets WHERE name <> 'host';
                DROP TABLE ifapi_down_guard;
                DELETE FROM events WHERE vnet <> 'host';
                """);

            migrationBuilder.DropForeignKey(
                name: "FK_cloners_vnets_vnet",
                table: "cloners");

            migrationBuilder.DropForeignKey(
                name: "FK_interfaces_cloners_home_vnet_cloner",
                table: "interfaces");

            migrationBuilder.DropForeignKey(
                name: "FK_interfaces_vnets_vnet",
                table: "interfaces");

            // Its rows are still referenced until the rebuilds at the end of this migration drop those keys:
            // foreign keys are off until then (the rebuild switches them on again).
            migrationBuilder.Sql("PRAGMA foreign_keys = 0", suppressTransaction: true);

            migrationBuilder.DropTable(
                name: "vnets");

            migrationBuilder.DropIndex(
                name: "IX_interfaces_home_vnet_cloner_unit",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_interfaces_vnet_if_index",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_interfaces_vnet_name",
                table: "interfaces");

            migrationBuilder.DropIndex(
                name: "IX_group_members_vnet_group_name_interface_id",
                table: "group_members");

            migrationBuilder.DropUniqueConstraint(
                name: "AK_cloners_vnet_name",
                table: "cloners");

            migrationBuilder.DropColumn(
                name: "home_vnet",
                table: "interfaces");

            migrationBuilder.DropColumn(
                name: "vnet",
                table: "interfaces");

            migrationBuilder.DropColumn(
                name: "vnet",
                table: "group_members");

            migrationBuilder.DropColumn(
                name: "vnet",
                table: "events");

            migrationBuilder.DropColumn(
                name: "vnet",
                table: "cloners");

            migrationBuilder.AddUniqueConstraint(
                name: "AK_cloners_name",
                table: "cloners",
                column: "name");

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_cloner_unit",
                table: "interfaces",
                columns: new[] { "cloner", "unit" });

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_if_index",
                table: "interfaces",
                column: "if_index",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_name",
                table: "interfaces",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_group_members_group_name_interface_id",
                table: "group_members",
                columns: new[] { "group_name", "interface_id" });

            migrationBuilder.AddForeignKey(
                name: "FK_interfaces_cloners_cloner",
                table: "interfaces",
                column: "cloner",
                principalTable: "cloners",
                principalColumn: "name",
                onDelete: ReferentialAction.Restrict);
        }
    }
}
